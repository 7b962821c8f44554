//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the migration
//! folders at compile time and does not see new files by itself.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
