//! The GPIO flags: status LED, trigger button and capture loop of `lm run`, and the same pins
//! per frame for `lm stream` (src/stream/runner.rs).

use anyhow::Result;
use lm::board::gpio::{BoardInput, BoardOutput, PinSpec};
use lm::board::indicator::{capture_loop, open_board_indicator, Indicator};
use std::time::Duration;

/// GPIO flags of `lm run`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct GpioArgs {
    /// Status LED, lit while a person is detected: rpi:<bcm>, gpiochipN:<line> or
    /// /dev/gpiochipN:<line>, optionally :active-low.
    #[arg(long, value_name = "PIN")]
    pub led: Option<PinSpec>,
    /// Trigger button: each press runs the images once (re-read from disk, so a camera tool can
    /// keep overwriting them). Same pin syntax; buttons to GND want :active-low.
    #[arg(long, value_name = "PIN")]
    pub button: Option<PinSpec>,
    /// A person is detected when at least this many joints are visible.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub min_joints: usize,
    /// Number of runs (captures) before exiting; 0 = forever. Default: 1, or forever with
    /// --button.
    #[arg(long, value_name = "N")]
    pub captures: Option<usize>,
}

impl GpioArgs {
    /// Runs captures before exiting (`None` = forever).
    pub fn max_captures(&self) -> Option<usize> {
        match self.captures {
            Some(0) => None,
            Some(n) => Some(n),
            None if self.button.is_some() => None,
            None => Some(1),
        }
    }

    /// Whether `lm run` loops (a pin or more than one capture) rather than running once.
    pub fn loops(&self) -> bool {
        self.led.is_some() || self.button.is_some() || self.max_captures() != Some(1)
    }

    /// `lm run` with these options: `run_once` runs the images once and returns the number of
    /// visible joints of the frame to show (e.g. the last image). Without any GPIO option and
    /// without `--captures` this is just `run_once()`.
    pub fn run(&self, mut run_once: impl FnMut() -> Result<usize>) -> Result<()> {
        if !self.loops() {
            return run_once().map(|_| ());
        }
        let mut indicator =
            open_board_indicator(self.led.as_ref(), self.button.as_ref(), self.min_joints)?;
        capture_loop(
            &mut indicator,
            Duration::from_millis(20),
            self.max_captures(),
            run_once,
        )?;
        Ok(())
    }
}

/// GPIO flags of `lm stream` (the LED and button of `lm run`, per frame).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StreamGpioArgs {
    /// Status LED, lit while the latest frame shows a person: rpi:<bcm>, gpiochipN:<line> or
    /// /dev/gpiochipN:<line>, optionally :active-low.
    #[arg(long, value_name = "PIN")]
    pub led: Option<PinSpec>,
    /// Trigger button: each press processes the next frame (the frames in between are
    /// dropped). Same pin syntax; buttons to GND want :active-low.
    #[arg(long, value_name = "PIN")]
    pub button: Option<PinSpec>,
    /// A person is detected when at least this many joints are visible.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub min_joints: usize,
}

impl StreamGpioArgs {
    /// Opens the pins, if any is named (a clear error off the board).
    pub fn open(&self) -> Result<Option<Indicator<BoardOutput, BoardInput>>> {
        if self.led.is_none() && self.button.is_none() {
            return Ok(None);
        }
        open_board_indicator(self.led.as_ref(), self.button.as_ref(), self.min_joints).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        gpio: GpioArgs,
    }

    #[test]
    fn parses_gpio_options() {
        let c = Cli::try_parse_from([
            "lm",
            "--led",
            "rpi:17",
            "--button",
            "gpiochip0:27:active-low",
            "--min-joints",
            "8",
        ])
        .unwrap();
        assert_eq!(c.gpio.led.unwrap().to_string(), "rpi:17");
        assert!(c.gpio.button.as_ref().unwrap().active_low);
        assert_eq!(c.gpio.min_joints, 8);
        assert!(Cli::try_parse_from(["lm", "--led", "gpio17"]).is_err());
    }

    #[test]
    fn captures_default() {
        let mut g = GpioArgs::default();
        assert_eq!(g.max_captures(), Some(1));
        g.button = Some("rpi:27".parse().unwrap());
        assert_eq!(g.max_captures(), None);
        g.captures = Some(3);
        assert_eq!(g.max_captures(), Some(3));
        g.captures = Some(0);
        assert_eq!(g.max_captures(), None);
    }

    #[test]
    fn without_gpio_runs_once_and_with_captures_runs_n_times() {
        let mut n = 0;
        GpioArgs::default()
            .run(|| {
                n += 1;
                Ok(3)
            })
            .unwrap();
        assert_eq!(n, 1);
        let g = GpioArgs {
            captures: Some(3),
            ..Default::default()
        };
        let mut n = 0;
        g.run(|| {
            n += 1;
            Ok(3)
        })
        .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn missing_chip_is_an_error() {
        let g = GpioArgs {
            led: Some("/nonexistent/gpiochip7:1".parse().unwrap()),
            ..Default::default()
        };
        let e = g.run(|| Ok(0)).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/gpiochip7"), "{e:#}");
    }
}
