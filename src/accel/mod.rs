//! FPGA convolution accelerator: register map, register access, driver.

pub mod regmap;
