//! Real GPIO pins for the [`super::indicator`] logic.
//!
//! A pin is named by a spec string:
//!
//! | spec                      | backend                                                    |
//! |---------------------------|------------------------------------------------------------|
//! | `rpi:17`                  | Raspberry Pi, BCM GPIO 17, through rppal (`/dev/gpiomem`)  |
//! | `gpiochip0:17`            | GPIO character device `/dev/gpiochip0`, line 17 (linux-embedded-hal / gpio-cdev) |
//! | `/dev/gpiochip2:5`        | same, with a full path                                     |
//!
//! A trailing `:active-low` (e.g. `rpi:27:active-low`) marks a pin whose active level is low;
//! [`PinSpec::active_low`] is what the caller passes on to
//! [`super::indicator::IndicatorConfig`]. Raspberry Pi inputs get the SoC's internal pull-up
//! when active low (button to GND), the pull-down otherwise.
//!
//! Off the board (no `/dev/gpiomem`, not a Pi, no `/dev/gpiochipN`, no permission) opening a pin
//! returns an error that says what is missing and how to fix it; nothing panics.

use anyhow::{bail, Context, Result};
use std::fmt;
use std::path::PathBuf;

/// Which driver a pin goes through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Raspberry Pi, BCM GPIO number (rppal).
    Rpi { bcm: u8 },
    /// Linux GPIO character device and line offset (linux-embedded-hal).
    Cdev { chip: PathBuf, line: u32 },
}

/// A parsed pin spec (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinSpec {
    pub backend: Backend,
    pub active_low: bool,
}

impl std::str::FromStr for PinSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let usage = "expected rpi:<bcm>, gpiochipN:<line> or /dev/gpiochipN:<line>, \
                     optionally followed by :active-low";
        let (body, active_low) = match s.strip_suffix(":active-low") {
            Some(b) => (b, true),
            None => (s, false),
        };
        let Some((chip, num)) = body.rsplit_once(':') else {
            bail!("bad GPIO pin {s:?}: {usage}");
        };
        let backend = if chip == "rpi" {
            let bcm: u8 = num
                .parse()
                .with_context(|| format!("bad GPIO pin {s:?}: BCM number {num:?}"))?;
            if bcm > 53 {
                bail!("bad GPIO pin {s:?}: BCM GPIO numbers go from 0 to 53");
            }
            Backend::Rpi { bcm }
        } else if chip.starts_with("gpiochip") || chip.starts_with('/') {
            let line: u32 = num
                .parse()
                .with_context(|| format!("bad GPIO pin {s:?}: line {num:?}"))?;
            let chip = if chip.starts_with('/') {
                PathBuf::from(chip)
            } else {
                PathBuf::from("/dev").join(chip)
            };
            Backend::Cdev { chip, line }
        } else {
            bail!("bad GPIO pin {s:?}: {usage}");
        };
        Ok(PinSpec {
            backend,
            active_low,
        })
    }
}

impl fmt::Display for PinSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            Backend::Rpi { bcm } => write!(f, "rpi:{bcm}")?,
            Backend::Cdev { chip, line } => write!(f, "{}:{line}", chip.display())?,
        }
        if self.active_low {
            write!(f, ":active-low")?;
        }
        Ok(())
    }
}

/// Error of a real pin (wraps the backend's error as text).
#[derive(Debug)]
pub struct GpioError(pub String);

impl fmt::Display for GpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GpioError {}

impl embedded_hal::digital::Error for GpioError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

pub use imp::{open_input, open_output, BoardInput, BoardOutput};

#[cfg(target_os = "linux")]
mod imp {
    use super::{Backend, GpioError, PinSpec};
    use anyhow::{anyhow, Result};
    use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
    use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
    use linux_embedded_hal::CdevPin;
    use std::path::Path;

    const CONSUMER: &str = "lm";

    /// An output pin of either backend.
    pub enum BoardOutput {
        Rpi(rppal::gpio::OutputPin),
        Cdev(CdevPin),
    }

    /// An input pin of either backend.
    pub enum BoardInput {
        Rpi(rppal::gpio::InputPin),
        Cdev(CdevPin),
    }

    impl ErrorType for BoardOutput {
        type Error = GpioError;
    }

    impl ErrorType for BoardInput {
        type Error = GpioError;
    }

    fn err(e: impl std::fmt::Debug) -> GpioError {
        GpioError(format!("{e:?}"))
    }

    impl OutputPin for BoardOutput {
        fn set_low(&mut self) -> Result<(), GpioError> {
            match self {
                BoardOutput::Rpi(p) => {
                    rppal::gpio::OutputPin::set_low(p);
                    Ok(())
                }
                BoardOutput::Cdev(p) => p.set_low().map_err(err),
            }
        }

        fn set_high(&mut self) -> Result<(), GpioError> {
            match self {
                BoardOutput::Rpi(p) => {
                    rppal::gpio::OutputPin::set_high(p);
                    Ok(())
                }
                BoardOutput::Cdev(p) => p.set_high().map_err(err),
            }
        }
    }

    impl InputPin for BoardInput {
        fn is_high(&mut self) -> Result<bool, GpioError> {
            match self {
                BoardInput::Rpi(p) => Ok(rppal::gpio::InputPin::is_high(p)),
                BoardInput::Cdev(p) => p.is_high().map_err(err),
            }
        }

        fn is_low(&mut self) -> Result<bool, GpioError> {
            self.is_high().map(|h| !h)
        }
    }

    fn rpi_pin(spec: &PinSpec, bcm: u8) -> Result<rppal::gpio::Pin> {
        let gpio = rppal::gpio::Gpio::new().map_err(|e| {
            let hint = if !Path::new("/dev/gpiomem").exists() {
                "no /dev/gpiomem: this is not a Raspberry Pi (use a gpiochipN:<line> pin on other \
                 boards)"
            } else {
                "add your user to the gpio group (sudo usermod -aG gpio $USER, then log in again)"
            };
            anyhow!("cannot open Raspberry Pi GPIO for {spec}: {e} ({hint})")
        })?;
        gpio.get(bcm)
            .map_err(|e| anyhow!("cannot take GPIO {spec}: {e}"))
    }

    fn cdev_line(
        spec: &PinSpec,
        chip: &Path,
        line: u32,
        flags: LineRequestFlags,
        value: u8,
    ) -> Result<CdevPin> {
        if !chip.exists() {
            return Err(anyhow!(
                "cannot open GPIO {spec}: {} does not exist (list the chips with `ls /dev/gpiochip*` \
                 or `gpiodetect`; the kernel needs CONFIG_GPIO_CDEV)",
                chip.display()
            ));
        }
        let mut c = Chip::new(chip).map_err(|e| {
            anyhow!(
                "cannot open {} for {spec}: {e} (give your user access, e.g. a udev rule \
                 SUBSYSTEM==\"gpio\", GROUP=\"gpio\", MODE=\"0660\" and usermod -aG gpio $USER)",
                chip.display()
            )
        })?;
        let handle = c
            .get_line(line)
            .and_then(|l| l.request(flags, value, CONSUMER))
            .map_err(|e| anyhow!("cannot request line {line} of {}: {e}", chip.display()))?;
        CdevPin::new(handle).map_err(|e| anyhow!("GPIO {spec}: {e}"))
    }

    /// Opens an output pin, initially inactive (LED off).
    pub fn open_output(spec: &PinSpec) -> Result<BoardOutput> {
        let inactive_high = spec.active_low;
        match &spec.backend {
            Backend::Rpi { bcm } => {
                let pin = rpi_pin(spec, *bcm)?;
                Ok(BoardOutput::Rpi(if inactive_high {
                    pin.into_output_high()
                } else {
                    pin.into_output_low()
                }))
            }
            Backend::Cdev { chip, line } => cdev_line(
                spec,
                chip,
                *line,
                LineRequestFlags::OUTPUT,
                u8::from(inactive_high),
            )
            .map(BoardOutput::Cdev),
        }
    }

    /// Opens an input pin (Raspberry Pi: with the internal pull towards the inactive level).
    pub fn open_input(spec: &PinSpec) -> Result<BoardInput> {
        match &spec.backend {
            Backend::Rpi { bcm } => {
                let pin = rpi_pin(spec, *bcm)?;
                Ok(BoardInput::Rpi(if spec.active_low {
                    pin.into_input_pullup()
                } else {
                    pin.into_input_pulldown()
                }))
            }
            Backend::Cdev { chip, line } => {
                cdev_line(spec, chip, *line, LineRequestFlags::INPUT, 0).map(BoardInput::Cdev)
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{GpioError, PinSpec};
    use anyhow::{bail, Result};
    use embedded_hal::digital::{ErrorType, InputPin, OutputPin};

    /// No GPIO off Linux.
    pub enum BoardOutput {}
    /// No GPIO off Linux.
    pub enum BoardInput {}

    impl ErrorType for BoardOutput {
        type Error = GpioError;
    }
    impl ErrorType for BoardInput {
        type Error = GpioError;
    }
    impl OutputPin for BoardOutput {
        fn set_low(&mut self) -> Result<(), GpioError> {
            match *self {}
        }
        fn set_high(&mut self) -> Result<(), GpioError> {
            match *self {}
        }
    }
    impl InputPin for BoardInput {
        fn is_high(&mut self) -> Result<bool, GpioError> {
            match *self {}
        }
        fn is_low(&mut self) -> Result<bool, GpioError> {
            match *self {}
        }
    }

    pub fn open_output(spec: &PinSpec) -> Result<BoardOutput> {
        bail!("GPIO {spec}: GPIO needs Linux")
    }
    pub fn open_input(spec: &PinSpec) -> Result<BoardInput> {
        bail!("GPIO {spec}: GPIO needs Linux")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let p: PinSpec = "rpi:17".parse().unwrap();
        assert_eq!(p.backend, Backend::Rpi { bcm: 17 });
        assert!(!p.active_low);
        let p: PinSpec = "rpi:27:active-low".parse().unwrap();
        assert_eq!(p.backend, Backend::Rpi { bcm: 27 });
        assert!(p.active_low);
        let p: PinSpec = "gpiochip0:5".parse().unwrap();
        assert_eq!(
            p.backend,
            Backend::Cdev {
                chip: "/dev/gpiochip0".into(),
                line: 5
            }
        );
        let p: PinSpec = "/dev/gpiochip2:12:active-low".parse().unwrap();
        assert_eq!(p.to_string(), "/dev/gpiochip2:12:active-low");
        for bad in ["", "17", "rpi:", "rpi:x", "rpi:99", "spi:3", "gpiochip0:-1"] {
            assert!(bad.parse::<PinSpec>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn off_board_open_is_an_error_not_a_panic() {
        // The test machines (x86 host, qemu-user) are not Raspberry Pis and have no GPIO chip at
        // this path; on a real Pi the rppal case may legitimately succeed, so only the cdev case
        // is asserted unconditionally.
        let cdev: PinSpec = "/nonexistent/gpiochip9:3".parse().unwrap();
        let e = open_output(&cdev).err().expect("no such chip").to_string();
        assert!(e.contains("does not exist") || e.contains("Linux"), "{e}");
        let e = open_input(&cdev).err().expect("no such chip").to_string();
        assert!(e.contains("/nonexistent/gpiochip9"), "{e}");
        if !std::path::Path::new("/dev/gpiomem").exists() {
            let rpi: PinSpec = "rpi:17".parse().unwrap();
            let e = open_output(&rpi).err().expect("not a Pi").to_string();
            assert!(e.contains("rpi:17"), "{e}");
        }
    }
}
