//! The shop's event contracts, generated from `schemas/` at build time.
//!
//! Every version of every event is a type in a versioned module named after its topic:
//! `events::orders::v2::OrderCreated`. The README's section "Generated events" shows the API;
//! `contracts-build`'s docs describe every generated item.

include!(concat!(env!("OUT_DIR"), "/events.rs"));

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
