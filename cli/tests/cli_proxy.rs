//! Issue 14: `redial probe` and `redial connect` work through a CONNECT proxy set only by
//! `HTTPS_PROXY` (on the child process: the test process's environment is never
//! touched), `probe` says which proxy it used without its credentials, `--proxy none`
//! wins over the environment, and unusable proxy settings are clear usage errors.

mod cli_support;

use std::sync::Arc;

use cli_support::*;
use redial_testkit::{
    echo_responder, Act, Behavior, ConnectProxy, SocksProxy, SocksTarget, TestCert, WsServer,
};

#[async_std::test]
async fn probe_goes_through_the_proxy_of_https_proxy_and_names_it_redacted() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let proxy = ConnectProxy::with_credentials("alice", "pr0xy-PASS")
        .await
        .unwrap();
    let (_ca_dir, ca) = write_file("ca.pem", &cert.cert_pem);
    let mut cmd = redial();
    cmd.args(["probe", "--json", "--wait", "200ms", &ws.url()])
        .arg("--ca")
        .arg(&ca)
        .env("HTTPS_PROXY", proxy.url_with("alice", "pr0xy-PASS"));
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("pr0xy-PASS"), "{text}");
    let lines = json_lines(&out);
    let d = of_kind(&lines, "diagnosis")[0];
    assert_eq!(
        d["proxy"],
        format!("http://<redacted>@{} (from HTTPS_PROXY)", proxy.addr())
    );
    assert_eq!(d["usable"], true, "{d}");
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(
        proxy.requests()[0].target,
        format!("localhost:{}", ws.addr().port())
    );

    // The readable form says it too.
    let mut cmd = redial();
    cmd.args(["probe", "--wait", "100ms", &ws.url()])
        .arg("--ca")
        .arg(&ca)
        .env("HTTPS_PROXY", proxy.url_with("alice", "pr0xy-PASS"));
    let out = run(cmd).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("proxy      http://<redacted>@{}", proxy.addr())),
        "{text}"
    );
    assert_eq!(proxy.tunnels(), 2);
}

#[async_std::test]
async fn connect_goes_through_the_proxy_of_https_proxy() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |_| {
        Behavior::Accept(vec![Act::Respond(Arc::new(echo_responder))])
    })
    .await
    .unwrap();
    let proxy = ConnectProxy::start().await.unwrap();
    let (_ca_dir, ca) = write_file("ca.der", &cert.cert_der);
    let (_dir, config) = fast_config();
    let mut cmd = redial();
    cmd.args(["connect", "--json", "--request", &ws.url()])
        .arg("--config")
        .arg(&config)
        .arg("--ca")
        .arg(&ca)
        .env("HTTPS_PROXY", proxy.url())
        .write_stdin("{\"input\":\"hello\"}\n");
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    let messages = of_kind(&lines, "message");
    assert!(
        messages
            .last()
            .is_some_and(|m| m["text"].as_str().unwrap().contains("response.completed")),
        "{lines:#?}"
    );
    assert!(messages.iter().all(|m| m["transport"] == "websocket"));
    assert_eq!(proxy.tunnels(), 1);
}

#[async_std::test]
async fn proxy_none_wins_over_the_environment() {
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    let proxy = ConnectProxy::start().await.unwrap();
    let mut cmd = redial();
    cmd.args([
        "probe",
        "--json",
        "--wait",
        "100ms",
        "--proxy",
        "none",
        &ws.url(),
    ])
    .env("http_proxy", proxy.url());
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(of_kind(&lines, "diagnosis")[0]["proxy"], "none");
    assert_eq!(proxy.requests().len(), 0);

    // And without --proxy, http_proxy applies to ws://.
    let mut cmd = redial();
    cmd.args(["probe", "--json", "--wait", "100ms", &ws.url()])
        .env("http_proxy", proxy.url());
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(proxy.tunnels(), 1);
}

#[async_std::test]
async fn unusable_proxies_are_usage_errors_naming_where_they_came_from() {
    let mut cmd = redial();
    cmd.args(["probe", "wss://example.test/"])
        .env("HTTPS_PROXY", "socks4://127.0.0.1:1080");
    let out = run(cmd).await;
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("HTTPS_PROXY: socks4:// proxies"), "{err}");

    let mut cmd = redial();
    cmd.args([
        "probe",
        "--proxy",
        "https://p.test:3128",
        "wss://example.test/",
    ]);
    let out = run(cmd).await;
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTPS proxies"), "{}", stderr(&out));
}

/// Issue 23: a rejected `--proxy` value is named without its password, on every
/// command and whichever way it is wrong; the same URL from the environment, from a
/// config file, or broken inside a config file's line, is too. Headers keep their
/// values to themselves the same way.
#[async_std::test]
async fn rejected_proxy_values_never_print_their_password() {
    let cases = [
        (
            "socks4://alice:s3cret@p.test:1080",
            "socks4:// proxies",
            "socks4://<redacted>@p.test:1080",
        ),
        (
            "https://alice:s3cret@p.test:3128",
            "HTTPS proxies",
            "https://<redacted>@p.test:3128",
        ),
        (
            "http://alice:s3cret@p.test:99999",
            "invalid port",
            "http://<redacted>@p.test:99999",
        ),
        (
            "alice:s3cret@p.test:99999",
            "invalid port",
            "'<redacted>@p.test:99999'",
        ),
        (
            "http://alice:pa/s3cret@p.test:3128",
            "invalid port",
            "http://<redacted>@p.test:3128",
        ),
        ("http://alice:s3cret", "invalid port", "http://<redacted>"),
    ];
    for command in ["probe", "connect", "echo"] {
        for (value, problem, shown) in cases {
            let mut cmd = redial();
            cmd.args(["--json", command, "--proxy", value, "wss://example.test/"]);
            let out = run(cmd).await;
            let (stdout, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
            assert_eq!(code(&out), 64, "{command} {value}: {err}");
            assert!(
                err.contains(problem) && err.contains("--proxy") && err.contains(shown),
                "{command} {value}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                !err.contains("s3cret") && !stdout.contains("s3cret"),
                "{command} {value}: {err}{stdout}"
            );
        }
    }

    // From the environment.
    let mut cmd = redial();
    cmd.args(["probe", "wss://example.test/"])
        .env("HTTPS_PROXY", "socks4://alice:s3cret@p.test:1080");
    let out = run(cmd).await;
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("HTTPS_PROXY: socks4://"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("s3cret")
            && !String::from_utf8_lossy(&out.stdout).contains("s3cret")
    );

    // From a config file: refused by a rule, or on a line that does not parse.
    for (file, code_wanted) in [
        ("[proxy]\nurl = \"http://alice:s3cret@p.test:99999\"\n", 65),
        ("[proxy]\nurl = \"http://alice:s3cret@p.test:3128\n", 65),
        ("[proxy]\nurl = \"alice:s3cret@p.test:3128\" x\n", 65),
    ] {
        let (_dir, config) = write_file("proxy.toml", file);
        let mut cmd = redial();
        cmd.args(["connect", "wss://example.test/"])
            .arg("--config")
            .arg(&config);
        let out = run(cmd).await;
        let err = stderr(&out);
        assert_eq!(code(&out), code_wanted, "{file}: {err}");
        assert!(err.contains("proxy") || err.contains("line 2"), "{err}");
        assert!(!err.contains("s3cret"), "{file}: {err}");
    }

    // A header the parser refuses is named by its name alone.
    for header in [
        "Authorization Bearer sk-s3cret",
        "Bad Name: Bearer sk-s3cret",
    ] {
        let mut cmd = redial();
        cmd.args(["probe", "-H", header, "wss://example.test/"]);
        let out = run(cmd).await;
        let err = stderr(&out);
        assert_eq!(code(&out), 64, "{err}");
        assert!(err.contains("--header") && !err.contains("s3cret"), "{err}");
    }
    // And a URL given where none belongs loses its password too.
    let mut cmd = redial();
    cmd.args([
        "probe",
        "wss://example.test/",
        "wss://alice:s3cret@other.test/",
    ]);
    let out = run(cmd).await;
    let err = stderr(&out);
    assert_eq!(code(&out), 64, "{err}");
    assert!(
        err.contains("wss://<redacted>@other.test/") && !err.contains("s3cret"),
        "{err}"
    );
}

/// Issue 23: `probe` through a proxy that refuses the tunnel (403) or the credentials
/// (401, as tinyproxy answers them) never says the server does not offer WebSockets;
/// its cause quotes the proxy's own reason phrase.
#[async_std::test]
async fn probe_never_reads_a_proxys_refusal_as_the_server_not_offering_websockets() {
    use redial_testkit::ProxyAct;
    let ws = WsServer::start(|_| Behavior::Accept(vec![Act::Hold]))
        .await
        .unwrap();
    for (status, reason, class, decision) in [
        (403, "Filtered", "rejected", "the proxy refused the tunnel"),
        (
            401,
            "Unauthorized",
            "proxy_auth",
            "the proxy refused its credentials",
        ),
    ] {
        let proxy = ConnectProxy::start_with(move |_| ProxyAct::AnswerWith {
            status,
            reason: reason.into(),
        })
        .await
        .unwrap();
        let mut cmd = redial();
        cmd.args(["probe", "--json", "--proxy", &proxy.url(), &ws.url()]);
        let out = run(cmd).await;
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        let lines = json_lines(&out);
        let d = of_kind(&lines, "diagnosis")[0];
        let text = d.to_string();
        assert!(!text.contains("offer WebSockets"), "{d}");
        assert_eq!(d["class"], class, "{d}");
        assert!(d["decision"].as_str().unwrap().contains(decision), "{d}");
        assert!(
            d["cause"]
                .as_str()
                .unwrap()
                .contains(&format!("HTTP {status} \"{reason}\"")),
            "{d}"
        );
        assert_eq!(ws.connections(), 0);
    }
}

/// Issue 27: a SOCKS5 proxy from `ALL_PROXY` (`socks5h://`, RFC 1929 credentials), and
/// `probe` names it without its password, with the subprotocol the server chose.
#[async_std::test]
async fn probe_goes_through_a_socks5h_proxy_of_all_proxy_and_names_it_redacted() {
    let cert = TestCert::localhost();
    let ws = WsServer::start_tls(&cert, |c| {
        let chosen = c.header("sec-websocket-protocol").unwrap_or_default();
        Behavior::AcceptWith {
            headers: vec![(
                "Sec-WebSocket-Protocol".into(),
                chosen.split(',').next().unwrap_or_default().trim().into(),
            )],
            acts: vec![Act::Hold],
        }
    })
    .await
    .unwrap();
    let proxy = SocksProxy::with_credentials("alice", "s0cks-PASS")
        .await
        .unwrap();
    let (_ca_dir, ca) = write_file("ca.pem", &cert.cert_pem);
    let mut cmd = redial();
    cmd.args(["probe", "--json", "--wait", "100ms", &ws.url()])
        .args(["--protocol", "chat.v2", "--protocol", "chat.v1"])
        .arg("--ca")
        .arg(&ca)
        .env(
            "ALL_PROXY",
            proxy.url_with("socks5h", "alice", "s0cks-PASS"),
        );
    let out = run(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("s0cks-PASS"), "{text}");
    let lines = json_lines(&out);
    let d = of_kind(&lines, "diagnosis")[0];
    assert_eq!(
        d["proxy"],
        format!("socks5h://<redacted>@{} (from ALL_PROXY)", proxy.addr())
    );
    assert_eq!(d["protocol"], "chat.v2", "{d}");
    assert_eq!(of_kind(&lines, "connected")[0]["protocol"], "chat.v2");
    assert_eq!(
        proxy.requests()[0].target,
        SocksTarget::Name("localhost".into(), ws.addr().port())
    );
}
