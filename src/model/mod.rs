//! The typed workflow and everything it is resolved against: configuration, personas, the
//! provider catalog and the resolution rules. May read files; never talks to the network.

pub mod catalog;
pub mod comparison;
pub mod config;
pub mod config_file;
pub mod diagnostic;
pub mod health;
pub mod persona;
pub mod prices;
pub mod reach;
pub mod resolve;
pub mod run_history;
pub mod runs;
pub mod schema;
pub mod secrets;
pub mod steps;
pub mod template;
pub mod template_env;
pub mod trust;
pub mod workflow;
pub mod workspace;
