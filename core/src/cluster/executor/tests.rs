//! The executor's RPC surface under test: message limits, and TLS with derived and own certificates.

use super::*;

/// A message over `spate.rpc.message.maxSize` is refused by its length prefix (nothing is
/// buffered for it), the call fails naming the limit, and the server goes on serving.
#[test]
fn an_oversized_message_is_refused_and_the_server_goes_on() {
    let rt = super::super::new_runtime("test-rpc").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = pb::executor_server::ExecutorServer::new(ShuffleService(Weak::new()))
        .max_decoding_message_size(1 << 20);
    super::super::rpc::serve(
        &rt,
        listener,
        tonic::service::Routes::new(server),
        "the test executor",
        None,
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let call = |maps: usize| {
        run_on(rt.handle(), async move {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut client = pb::executor_client::ExecutorClient::new(channel);
            let req = pb::FetchShuffleRequest {
                shuffle: 0,
                reduce: 0,
                maps: vec![u64::MAX; maps],
            };
            client.fetch_shuffle(req).await.map(drop)
        })
        .unwrap()
    };
    // ~3 MB of varints against a 1 MiB limit.
    let refused = call(300_000).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");
    assert!(refused.message().contains("too large"), "{refused:?}");
    // The server still answers (this service's executor is gone: it says so).
    let answered = call(1).unwrap_err();
    assert_eq!(answered.code(), tonic::Code::Unavailable, "{answered:?}");
}

/// A shuffle service over TLS with `material` on 127.0.0.1, and its refusals.
fn tls_server(
    rt: &tokio::runtime::Runtime,
    material: &TlsMaterial,
) -> (std::net::SocketAddr, Arc<super::super::tls::Refusals>) {
    use super::super::tls::{Refusals, incoming};
    let refusals = Arc::new(Refusals::new("the test executor"));
    let _guard = rt.enter();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = pb::executor_server::ExecutorServer::new(ShuffleService(Weak::new()));
    let accepted = super::super::accept::accepted(
        listener,
        Arc::clone(&refusals),
        std::time::Duration::from_secs(60),
    );
    let stream = incoming(
        accepted,
        material.acceptor().unwrap(),
        Arc::clone(&refusals),
    );
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(stream),
    );
    (addr, refusals)
}

/// A call to the test server: `Unavailable` "… stopping" means it got through (the
/// service's executor is gone and says so).
fn tls_call(
    rt: &tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    tls: Option<TlsMaterial>,
) -> std::result::Result<(), Status> {
    run_on(rt.handle(), async move {
        let url = format!("{}://{addr}", super::super::tls::scheme(tls.as_ref()));
        let channel = super::super::tls::endpoint(url, tls.as_ref())
            .unwrap()
            .connect()
            .await
            .map_err(|e| Status::unavailable(format!("connect: {e:?}")))?;
        let mut client = pb::executor_client::ExecutorClient::new(channel);
        let req = pb::FetchShuffleRequest {
            shuffle: 0,
            reduce: 0,
            maps: vec![0],
        };
        client.fetch_shuffle(req).await.map(drop)
    })
    .unwrap()
}

fn got_through(r: std::result::Result<(), Status>) -> bool {
    matches!(r, Err(s) if s.code() == tonic::Code::Unavailable && s.message().contains("stopping"))
}

/// Every connection is TLS with a certificate of the application's CA on both ends: a
/// process with the same secret gets through; a plaintext client, garbage and a process
/// started with another secret are refused at the handshake (before any RPC is read),
/// counted and logged at most once per period; the server goes on serving.
#[test]
fn only_peers_with_the_applications_keys_get_through_tls() {
    use tokio::io::AsyncWriteExt;
    let rt = super::super::new_runtime("test-tls").unwrap();
    let secret = Secret::generate();
    let (addr, refusals) = tls_server(&rt, &TlsMaterial::derived(&secret).unwrap());
    let call = |tls: Option<TlsMaterial>| tls_call(&rt, addr, tls);
    let wait_for_refusals = |n: u64| {
        let until = Instant::now() + Duration::from_secs(20);
        while refusals.total() < n {
            assert!(
                Instant::now() < until,
                "{} refusals, not {n}",
                refusals.total()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // The same secret: the handshake succeeds and the service answers (its executor is
    // gone: it says so).
    let answered = call(Some(TlsMaterial::derived(&secret).unwrap())).unwrap_err();
    assert_eq!(answered.code(), tonic::Code::Unavailable, "{answered:?}");
    assert!(answered.message().contains("stopping"), "{answered:?}");
    assert_eq!(refusals.total(), 0);
    // Plain HTTP/2.
    let plain = call(None).unwrap_err();
    assert!(!plain.message().contains("stopping"), "{plain:?}");
    wait_for_refusals(1);
    // Another application's keys.
    let stranger = call(Some(TlsMaterial::derived(&Secret::generate()).unwrap())).unwrap_err();
    assert!(!stranger.message().contains("stopping"), "{stranger:?}");
    wait_for_refusals(2);
    // Garbage, 200 times: all counted, one logged line at most.
    rt.block_on(async {
        for _ in 0..200 {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            let _ = c.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
        }
    });
    wait_for_refusals(202);
    let again = call(Some(TlsMaterial::derived(&secret).unwrap())).unwrap_err();
    assert_eq!(again.code(), tonic::Code::Unavailable, "{again:?}");
    assert!(again.message().contains("stopping"), "{again:?}");
}

/// Your own PKI (`spate.rpc.tls.caFile`, `certFile`, `keyFile`, `serverName`): processes
/// with certificates of that CA get through, one with the derived keys does not.
#[test]
fn certificates_of_your_own_ca_work_and_others_are_refused() {
    use rcgen::{CertificateParams, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["cluster.example".to_string()]).unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &Issuer::new(ca, ca_key)).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let conf = Conf::new()
        .set("spate.rpc.tls.caFile", write("ca.pem", ca_cert.pem()))
        .set("spate.rpc.tls.certFile", write("cert.pem", leaf_cert.pem()))
        .set(
            "spate.rpc.tls.keyFile",
            write("key.pem", leaf_key.serialize_pem()),
        )
        .set("spate.rpc.tls.serverName", "cluster.example");
    let secret = Secret::generate();
    let own = || TlsMaterial::from_conf(&conf, &secret).unwrap().unwrap();
    let rt = super::super::new_runtime("test-tls-own").unwrap();
    let (addr, refusals) = tls_server(&rt, &own());
    assert!(got_through(tls_call(&rt, addr, Some(own()))));
    let derived = TlsMaterial::derived(&secret).unwrap();
    assert!(!got_through(tls_call(&rt, addr, Some(derived))));
    let until = Instant::now() + Duration::from_secs(20);
    while refusals.total() < 1 {
        assert!(Instant::now() < until, "the derived keys were not refused");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A key file that is not PEM is refused, naming it.
    let bad = conf.set("spate.rpc.tls.keyFile", write("bad.pem", "garbage".into()));
    let err = TlsMaterial::from_conf(&bad, &secret).unwrap_err();
    assert!(err.to_string().contains("bad.pem"), "{err}");
}
