//! Stores other than the JSON stock file: where a SQL strategy's stock
//! lives. The file store is `engine::stock`.

pub mod sqlite;
