//! Board support: what each supported board offers.
//!
//! * [`doctor`]: `lm doctor`, a report of the CPU (NEON), the FPGA accelerator (UIO device,
//!   permissions, ID register through a driver hook), u-dma-buf buffers and GPIO, with the fix
//!   for each problem.
//! * [`indicator`]: status LED (person detected) and trigger button over the embedded-hal 1.0
//!   traits, host-tested with embedded-hal-mock.
//! * [`gpio`]: real pins for it: Raspberry Pi (rppal) and any Linux GPIO character device
//!   (linux-embedded-hal); off the board they return an error, never panic.
//!
//! Board files (descriptions, device-tree overlay, setup guides, cross builds) live in
//! `boards/` at the top of the repository.

pub mod doctor;
pub mod gpio;
pub mod indicator;
