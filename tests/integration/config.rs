//! The shipped config folder loads as it is, and environment variables override it.

use api::Settings;

use crate::cli::config_dir;

#[test]
fn the_shipped_config_folder_loads() {
    let settings = Settings::load(Some(&config_dir())).unwrap();
    assert_eq!(settings.server.port, 8080);
    assert_eq!(settings.auth.key_prefix, "xero");
}
