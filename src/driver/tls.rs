//! TLS client configuration: rustls with the `ring` provider, the webpki roots by
//! default, extra CA certificates, the platform verifier behind a feature, and a named
//! escape hatch that disables verification and says so at every connection.

use std::sync::Arc;

use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::crypto::{
    ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::{
    ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

/// Which certificates the client trusts.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted CA certificates (DER), added to the default roots.
    pub extra_roots: Vec<Vec<u8>>,
    /// Use the platform's verifier (feature `platform-verifier`) instead of the webpki roots.
    pub platform_verifier: bool,
    /// Accept any certificate. Only for tests against servers you control: the driver
    /// logs a warning at every connection while this is set.
    pub danger_accept_invalid_certs: bool,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// Build the rustls client config for these options.
pub(super) fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, Error> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let mut config = if options.danger_accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider())))
            .with_no_client_auth()
    } else if options.platform_verifier {
        platform(builder, options)?
    } else {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in &options.extra_roots {
            roots.add(CertificateDer::from(der.clone()))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    // Both transports speak HTTP/1.1 over TLS (the upgrade, the fallback's POST).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(feature = "platform-verifier")]
fn platform(
    builder: futures_rustls::rustls::ConfigBuilder<
        ClientConfig,
        futures_rustls::rustls::WantsVerifier,
    >,
    options: &TlsOptions,
) -> Result<ClientConfig, Error> {
    let extra: Vec<CertificateDer<'static>> = options
        .extra_roots
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect();
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider())?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[cfg(not(feature = "platform-verifier"))]
fn platform(
    _builder: futures_rustls::rustls::ConfigBuilder<
        ClientConfig,
        futures_rustls::rustls::WantsVerifier,
    >,
    _options: &TlsOptions,
) -> Result<ClientConfig, Error> {
    Err(Error::General(
        "the platform verifier needs redial's `platform-verifier` feature".into(),
    ))
}

/// Whether an I/O error from the TLS handshake is a rejected certificate.
pub(super) fn is_certificate_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .is_some_and(|e| {
            matches!(
                e,
                Error::InvalidCertificate(_) | Error::NoCertificatesPresented
            )
        })
}

#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configuration_offers_http_1_1_by_alpn() {
        let plain = client_config(&TlsOptions::default()).unwrap();
        assert_eq!(plain.alpn_protocols, [b"http/1.1".to_vec()]);
        let any = client_config(&TlsOptions {
            danger_accept_invalid_certs: true,
            ..TlsOptions::default()
        })
        .unwrap();
        assert_eq!(any.alpn_protocols, [b"http/1.1".to_vec()]);
    }
}
