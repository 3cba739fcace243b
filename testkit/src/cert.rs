//! Self-signed certificates made at run time.

use std::sync::Arc;

use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use futures_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

/// A self-signed certificate and its private key, for loopback TLS servers.
#[derive(Clone)]
pub struct TestCert {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
    /// The certificate, PEM (for tools that want a file).
    pub cert_pem: String,
}

impl std::fmt::Debug for TestCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a throwaway, but keys never go into logs.
        f.debug_struct("TestCert")
            .field("cert_der", &format_args!("{} bytes", self.cert_der.len()))
            .field("key_der", &"<redacted>")
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TestCert {
    /// Self-signed certificate for "localhost", 127.0.0.1 and ::1, made at run time with
    /// rcgen.
    ///
    /// # Panics
    ///
    /// If rcgen cannot make a key pair (it always can with the ring backend).
    pub fn localhost() -> TestCert {
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let certified = rcgen::generate_simple_self_signed(names)
            .expect("rcgen makes a self-signed certificate");
        TestCert {
            cert_der: certified.cert.der().to_vec(),
            key_der: certified.signing_key.serialize_der(),
            cert_pem: certified.cert.pem(),
        }
    }

    /// A rustls ServerConfig (ring provider) serving this certificate.
    ///
    /// No ALPN protocol is set; no client certificate is asked for.
    ///
    /// # Panics
    ///
    /// If rustls refuses the certificate or key (it does not for [`TestCert::localhost`]).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .expect("rustls accepts the rcgen certificate and key");
        Arc::new(config)
    }

    /// A root store that trusts this certificate only.
    ///
    /// # Panics
    ///
    /// If the certificate does not parse (it does for [`TestCert::localhost`]).
    pub fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert_der.clone()))
            .expect("the rcgen certificate is a valid trust anchor");
        roots
    }

    /// A rustls ClientConfig (ring provider) that trusts this certificate only.
    ///
    /// # Panics
    ///
    /// As [`TestCert::root_store`].
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(self.root_store())
            .with_no_client_auth();
        Arc::new(config)
    }
}
