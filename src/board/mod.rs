//! Board support: what each supported board offers.
