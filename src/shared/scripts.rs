//! The Lua scripts, each sent once and then called by its SHA1 (`EVALSHA`).

use redis::Script;

macro_rules! script {
    ($file:literal) => {
        // Each script starts with the shared clock and window helpers.
        Script::new(concat!(include_str!("lua/window.lua"), include_str!($file)))
    };
}

pub(crate) struct Scripts {
    pub(crate) admit: Script,
    pub(crate) settle: Script,
    pub(crate) store: Script,
    pub(crate) usage: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            admit: script!("lua/admit.lua"),
            settle: script!("lua/settle.lua"),
            store: script!("lua/store.lua"),
            usage: script!("lua/usage.lua"),
        }
    }
}
