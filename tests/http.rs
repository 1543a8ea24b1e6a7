//! Every row of the error table and every algorithm family, over a real axum server on loopback.

mod common;
