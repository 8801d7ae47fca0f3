//! The TLS of the HTTP clients routewise builds: the system's OpenSSL with the
//! `native-tls` feature, else rustls with the `ring` provider and the platform's
//! certificate verifier (feature `rustls`, the default).
//!
//! The rustls configuration is given to reqwest whole, so routewise needs no process-wide
//! crypto provider and installs none: an application's own choice stays its own.

/// The TLS a client routewise builds is made with, loaded once (the platform's verifier
/// reads the system's roots) and shared by the client's reqwest and direct paths.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    #[cfg(all(feature = "rustls", not(feature = "native-tls")))]
    rustls: Option<rustls::ClientConfig>,
}

impl Settings {
    /// The settings the enabled features choose.
    pub(crate) fn load() -> Self {
        Self {
            #[cfg(all(feature = "rustls", not(feature = "native-tls")))]
            rustls: rustls_config(),
        }
    }

    /// `builder` with the TLS backend the enabled features choose.
    pub(crate) fn configure(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        #[cfg(feature = "native-tls")]
        {
            builder.tls_backend_native()
        }
        #[cfg(all(feature = "rustls", not(feature = "native-tls")))]
        {
            match &self.rustls {
                Some(config) => builder.tls_backend_preconfigured(config.clone()),
                None => builder,
            }
        }
        #[cfg(not(any(feature = "native-tls", feature = "rustls")))]
        {
            builder
        }
    }

    /// The rustls configuration, unless the platform's verifier could not be set up.
    #[cfg(all(feature = "rustls", not(feature = "native-tls")))]
    pub(crate) fn rustls(&self) -> Option<&rustls::ClientConfig> {
        self.rustls.as_ref()
    }
}

/// rustls with `ring`, TLS 1.2 and 1.3, the platform's verifier, and HTTP/2 offered
/// through ALPN when the `http2` feature is on (HTTP/1.1 alone otherwise). Should the platform's verifier fail to start, no root is trusted: every
/// HTTPS call then fails with a certificate error that says so. Choosing the protocol
/// versions fails only for a provider without cipher suites for them, which `ring` is
/// not; reqwest's own error then reports it when the client is built.
#[cfg(all(feature = "rustls", not(feature = "native-tls")))]
fn rustls_config() -> Option<rustls::ClientConfig> {
    use std::sync::Arc;

    use rustls_platform_verifier::BuilderVerifierExt;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = || {
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .ok()
    };
    let mut config = match versions()?.with_platform_verifier() {
        Ok(verified) => verified.with_no_client_auth(),
        Err(_) => versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    };
    config.alpn_protocols = if cfg!(feature = "http2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Some(config)
}
