//! Status LED and trigger button, generic over the embedded-hal 1.0 digital traits.
//!
//! * LED: on iff the last frame had a person, i.e. at least [`IndicatorConfig::min_visible_joints`]
//!   visible joints.
//! * Button: a press (an inactive → active edge, sampled by [`Indicator::poll_trigger`]) triggers a
//!   capture; holding the button does not re-trigger.
//!
//! Levels are logical: with `*_active_low` set, "on" / "pressed" is the low electrical level
//! (typical wiring: LED to 3V3 through a resistor, button to GND with a pull-up).
//! The logic is tested on the host with `embedded-hal-mock`; [`super::gpio`] opens real pins.

use embedded_hal::digital::{InputPin, OutputPin};
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// What counts as "person detected" and how the pins are wired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndicatorConfig {
    /// A frame has a person when at least this many joints are visible (≥ 1).
    pub min_visible_joints: usize,
    /// The LED is lit by driving its pin low.
    pub led_active_low: bool,
    /// The button reads low while pressed (pull-up wiring).
    pub button_active_low: bool,
}

impl Default for IndicatorConfig {
    fn default() -> Self {
        Self {
            min_visible_joints: 5,
            led_active_low: false,
            button_active_low: true,
        }
    }
}

/// A GPIO failure, with the pin's role; the HAL error is kept as text (HAL error types differ).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndicatorError {
    #[error("status LED pin: {0}")]
    Led(String),
    #[error("trigger button pin: {0}")]
    Button(String),
}

/// The LED / button logic over any `OutputPin` and `InputPin`.
pub struct Indicator<L, B> {
    led: Option<L>,
    button: Option<B>,
    config: IndicatorConfig,
    led_on: Option<bool>,
    was_pressed: Option<bool>,
}

impl<L: OutputPin, B: InputPin> Indicator<L, B>
where
    L::Error: Debug,
    B::Error: Debug,
{
    /// Either pin may be absent (no LED, or no button). The LED state is not touched until the
    /// first [`Indicator::show`]; the button's first sample only records its level (a button
    /// held at start-up does not trigger).
    pub fn new(led: Option<L>, button: Option<B>, config: IndicatorConfig) -> Self {
        Self {
            led,
            button,
            config,
            led_on: None,
            was_pressed: None,
        }
    }

    /// Does a frame with `visible_joints` visible joints show a person?
    pub fn person_detected(&self, visible_joints: usize) -> bool {
        visible_joints >= self.config.min_visible_joints.max(1)
    }

    /// Sets the LED for a frame with `visible_joints` visible joints; returns whether a person
    /// was detected. The pin is written only when the state changes.
    pub fn show(&mut self, visible_joints: usize) -> Result<bool, IndicatorError> {
        let on = self.person_detected(visible_joints);
        self.set_led(on)?;
        Ok(on)
    }

    /// Switches the LED (logical level).
    pub fn set_led(&mut self, on: bool) -> Result<(), IndicatorError> {
        if self.led_on == Some(on) {
            return Ok(());
        }
        if let Some(led) = self.led.as_mut() {
            let high = on != self.config.led_active_low;
            let r = if high { led.set_high() } else { led.set_low() };
            r.map_err(|e| IndicatorError::Led(format!("{e:?}")))?;
        }
        self.led_on = Some(on);
        Ok(())
    }

    /// Last LED state written (`None` before the first write).
    pub fn led_state(&self) -> Option<bool> {
        self.led_on
    }

    /// Is the button pressed now (logical level)? `false` without a button.
    pub fn is_pressed(&mut self) -> Result<bool, IndicatorError> {
        let active_low = self.config.button_active_low;
        match self.button.as_mut() {
            None => Ok(false),
            Some(b) => b
                .is_high()
                .map(|high| high != active_low)
                .map_err(|e| IndicatorError::Button(format!("{e:?}"))),
        }
    }

    /// Samples the button once: `true` on a press edge (released at the previous sample,
    /// pressed now).
    pub fn poll_trigger(&mut self) -> Result<bool, IndicatorError> {
        let pressed = self.is_pressed()?;
        let edge = pressed && self.was_pressed == Some(false);
        self.was_pressed = Some(pressed);
        Ok(edge)
    }

    /// Polls every `interval` until a press edge (`Ok(true)`) or until `timeout` has passed
    /// (`Ok(false)`; `None` waits forever). Without a button it returns `Ok(true)` at once, so
    /// a capture loop without a button runs free.
    pub fn wait_trigger(
        &mut self,
        interval: Duration,
        timeout: Option<Duration>,
    ) -> Result<bool, IndicatorError> {
        if self.button.is_none() {
            return Ok(true);
        }
        let start = Instant::now();
        loop {
            if self.poll_trigger()? {
                return Ok(true);
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return Ok(false);
            }
            std::thread::sleep(interval);
        }
    }

    /// Whether a trigger button is wired.
    pub fn has_button(&self) -> bool {
        self.button.is_some()
    }

    /// Gives the pins back (for tests and for re-use).
    pub fn release(self) -> (Option<L>, Option<B>) {
        (self.led, self.button)
    }
}

/// Capture loop: waits for a trigger, runs `capture` (which returns the number of visible
/// joints of the frame it took), shows the result on the LED. Stops after `max_captures`
/// captures (`None`: never) or when `capture` fails; returns the number of captures and how many
/// had a person.
pub fn capture_loop<L: OutputPin, B: InputPin>(
    indicator: &mut Indicator<L, B>,
    poll_interval: Duration,
    max_captures: Option<usize>,
    mut capture: impl FnMut() -> anyhow::Result<usize>,
) -> anyhow::Result<(usize, usize)>
where
    L::Error: Debug,
    B::Error: Debug,
{
    let (mut captures, mut persons) = (0, 0);
    while max_captures.is_none_or(|m| captures < m) {
        indicator.wait_trigger(poll_interval, None)?;
        let visible = capture()?;
        captures += 1;
        if indicator.show(visible)? {
            persons += 1;
        }
    }
    Ok((captures, persons))
}

/// The indicator on the board's real pins (`lm run`/`lm stream` `--led`, `--button`): a clear
/// error off the board or for a pin that does not open.
pub fn open_board_indicator(
    led: Option<&super::gpio::PinSpec>,
    button: Option<&super::gpio::PinSpec>,
    min_visible_joints: usize,
) -> anyhow::Result<Indicator<super::gpio::BoardOutput, super::gpio::BoardInput>> {
    let config = IndicatorConfig {
        min_visible_joints,
        led_active_low: led.is_some_and(|p| p.active_low),
        button_active_low: button.is_some_and(|p| p.active_low),
    };
    let led = led.map(super::gpio::open_output).transpose()?;
    let button = button.map(super::gpio::open_input).transpose()?;
    Ok(Indicator::new(led, button, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction as T};
    use embedded_hal_mock::eh1::MockError;

    fn cfg(min: usize, led_low: bool, button_low: bool) -> IndicatorConfig {
        IndicatorConfig {
            min_visible_joints: min,
            led_active_low: led_low,
            button_active_low: button_low,
        }
    }

    #[test]
    fn led_follows_person_threshold_and_writes_only_changes() {
        let led = Mock::new(&[T::set(State::High), T::set(State::Low), T::set(State::High)]);
        let mut ind: Indicator<Mock, Mock> = Indicator::new(Some(led), None, cfg(5, false, true));
        assert!(ind.show(5).unwrap()); // on
        assert!(ind.show(17).unwrap()); // still on: no write
        assert!(!ind.show(4).unwrap()); // off
        assert!(!ind.show(0).unwrap()); // still off: no write
        assert!(ind.show(6).unwrap()); // on
        assert_eq!(ind.led_state(), Some(true));
        let (mut led, _) = ind.release();
        led.as_mut().unwrap().done();
    }

    #[test]
    fn active_low_led_inverts_levels() {
        let led = Mock::new(&[T::set(State::Low), T::set(State::High)]);
        let mut ind: Indicator<Mock, Mock> = Indicator::new(Some(led), None, cfg(1, true, true));
        assert!(ind.show(1).unwrap());
        assert!(!ind.show(0).unwrap());
        ind.release().0.unwrap().done();
    }

    #[test]
    fn zero_threshold_still_needs_one_joint() {
        let ind: Indicator<Mock, Mock> = Indicator::new(None, None, cfg(0, false, true));
        assert!(!ind.person_detected(0));
        assert!(ind.person_detected(1));
    }

    #[test]
    fn button_triggers_on_press_edge_only() {
        // Active low: High = released, Low = pressed.
        let levels = [
            State::Low,  // held at start: no trigger
            State::High, // released
            State::Low,  // press: trigger
            State::Low,  // held: no trigger
            State::High, // released
            State::High,
            State::Low, // press: trigger
        ];
        let tx: Vec<T> = levels.iter().map(|s| T::get(*s)).collect();
        let mut ind: Indicator<Mock, Mock> =
            Indicator::new(None, Some(Mock::new(&tx)), cfg(5, false, true));
        let got: Vec<bool> = (0..levels.len())
            .map(|_| ind.poll_trigger().unwrap())
            .collect();
        assert_eq!(got, [false, false, true, false, false, false, true]);
        ind.release().1.unwrap().done();
    }

    #[test]
    fn active_high_button() {
        let tx = [T::get(State::Low), T::get(State::High)];
        let mut ind: Indicator<Mock, Mock> =
            Indicator::new(None, Some(Mock::new(&tx)), cfg(5, false, false));
        assert!(!ind.poll_trigger().unwrap());
        assert!(ind.poll_trigger().unwrap());
        ind.release().1.unwrap().done();
    }

    #[test]
    fn pin_errors_are_reported_not_panicked() {
        let err = MockError::Io(std::io::ErrorKind::PermissionDenied);
        let led = Mock::new(&[T::set(State::High).with_error(err.clone())]);
        let button = Mock::new(&[T::get(State::High).with_error(err)]);
        let mut ind = Indicator::new(Some(led), Some(button), cfg(1, false, true));
        assert!(matches!(ind.show(3), Err(IndicatorError::Led(_))));
        assert_eq!(ind.led_state(), None);
        assert!(matches!(ind.poll_trigger(), Err(IndicatorError::Button(_))));
        let (led, button) = ind.release();
        led.unwrap().done();
        button.unwrap().done();
    }

    #[test]
    fn capture_loop_waits_for_presses_and_lights_led() {
        // Released, press (capture 1: person), held, released, press (capture 2: nobody).
        let button = Mock::new(&[
            T::get(State::High),
            T::get(State::Low),
            T::get(State::Low),
            T::get(State::High),
            T::get(State::Low),
        ]);
        let led = Mock::new(&[T::set(State::High), T::set(State::Low)]);
        let mut ind = Indicator::new(Some(led), Some(button), cfg(5, false, true));
        let mut frames = [12usize, 2].into_iter();
        let (n, persons) = capture_loop(&mut ind, Duration::ZERO, Some(2), || {
            Ok(frames.next().unwrap())
        })
        .unwrap();
        assert_eq!((n, persons), (2, 1));
        let (led, button) = ind.release();
        led.unwrap().done();
        button.unwrap().done();
    }

    #[test]
    fn wait_trigger_times_out_and_runs_free_without_button() {
        let button = Mock::new(&[T::get(State::High)]);
        let mut ind: Indicator<Mock, Mock> =
            Indicator::new(None, Some(button), cfg(5, false, true));
        assert!(!ind
            .wait_trigger(Duration::ZERO, Some(Duration::ZERO))
            .unwrap());
        ind.release().1.unwrap().done();
        let mut free: Indicator<Mock, Mock> = Indicator::new(None, None, cfg(5, false, true));
        assert!(free.wait_trigger(Duration::ZERO, None).unwrap());
    }
}
