//! Black-box tests: the real server on port 0 with a fresh database, driven over HTTP.

mod audit;
mod auth;
mod bad_input;
mod catalog;
mod cli;
mod compat;
mod compliance;
mod e2e;
mod events;
mod faults;
mod git;
mod graph;
mod ingestion;
mod mcp;
mod notifications;
mod openapi;
mod permissions;
mod postgres;
mod restart;
mod scaffolder;
mod scorecards;
mod search;
mod signin;
mod support;
mod techdocs;
mod wire_shapes;
