//! The shop's event contracts, generated from `schemas/` at build time.
//!
//! Every version of every event is a type in a versioned module named after its topic:
//! `events::orders::v2::OrderCreated`. See the README's "Generated API" section.

include!(concat!(env!("OUT_DIR"), "/events.rs"));

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
