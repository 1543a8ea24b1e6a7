//! Tests of `introspection::client`.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::Introspector;
use super::super::tests::{Reply, Seen, serve};
use super::*;

fn header(seen: &Seen, name: &str) -> Option<String> {
    seen.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn request_is_a_form_post_of_the_token_and_its_hint() {
    let endpoint = serve(|_| Reply::active()).await;
    let introspector = endpoint.introspector();
    introspector.lookup("a.b+c/d=~ é&x").await.unwrap();
    let seen = &endpoint.seen()[0];
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(
        header(seen, "content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(header(seen, "accept").as_deref(), Some("application/json"));
    assert_eq!(header(seen, "authorization"), None);
    assert_eq!(
        seen.body,
        "token=a.b%2Bc%2Fd%3D%7E+%C3%A9%26x&token_type_hint=access_token"
    );
}

#[tokio::test]
async fn basic_auth_form_encodes_id_and_secret_before_base64() {
    let endpoint = serve(|_| Reply::active()).await;
    let introspector = endpoint
        .builder()
        .client_basic("my:api%+ é", "p@ss:w%rd+ ü")
        .build()
        .unwrap();
    introspector.lookup("t").await.unwrap();
    let encoded = STANDARD.encode("my%3Aapi%25%2B+%C3%A9:p%40ss%3Aw%25rd%2B+%C3%BC");
    let seen = &endpoint.seen()[0];
    assert_eq!(
        header(seen, "authorization"),
        Some(format!("Basic {encoded}"))
    );
}

#[tokio::test]
async fn bearer_auth_is_sent_as_given() {
    let endpoint = serve(|_| Reply::active()).await;
    let introspector = endpoint
        .builder()
        .client_bearer("rs-credential.42")
        .build()
        .unwrap();
    introspector.lookup("t").await.unwrap();
    let seen = &endpoint.seen()[0];
    assert_eq!(
        header(seen, "authorization").as_deref(),
        Some("Bearer rs-credential.42")
    );
}

#[tokio::test]
async fn active_answer_keeps_the_object_as_sent() {
    let sent = r#"{ "active" : true, "sub":"ada", "scope":"read write", "exp":4102444800 }"#;
    let endpoint = serve(move |_| Reply::json(sent)).await;
    match endpoint.introspector().lookup("t").await {
        Ok(Answer::Active(active)) => assert_eq!(&*active.json, sent.as_bytes()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn anything_but_the_boolean_true_is_inactive() {
    let shapes = [
        r#"{"active":false}"#,
        r#"{"sub":"ada"}"#,
        r#"{"active":"true"}"#,
        r#"{"active":1}"#,
        r#"{"active":null}"#,
        r#"{"active":[true]}"#,
    ];
    // The token is the index of the shape to answer with.
    let endpoint = serve(move |form| {
        let i: usize = form["token=".len()..form.find('&').unwrap()]
            .parse()
            .unwrap();
        Reply::json(shapes[i])
    })
    .await;
    let introspector = endpoint.introspector();
    for (i, shape) in shapes.iter().enumerate() {
        let answer = introspector.lookup(&i.to_string()).await;
        assert!(
            matches!(answer, Ok(Answer::Inactive)),
            "{shape}: {answer:?}"
        );
    }
    assert_eq!(endpoint.calls(), shapes.len());
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_not_json() {
    let bodies = [
        "garbage",
        "",
        "[true]",
        r#"[{"active":true}]"#,
        r#""active""#,
        r#"{"active":true"#,
        r#"{"active":false,"active":true}"#,
    ];
    let endpoint = serve(move |form| {
        let i: usize = form["token=".len()..form.find('&').unwrap()]
            .parse()
            .unwrap();
        Reply::json(bodies[i])
    })
    .await;
    let introspector = endpoint.introspector();
    for (i, body) in bodies.iter().enumerate() {
        let answer = introspector.lookup(&i.to_string()).await;
        assert!(
            matches!(answer, Err(IntrospectError::NotJson)),
            "{body:?}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn a_status_other_than_200_is_an_error() {
    for status in [500, 401, 204] {
        let endpoint = serve(move |_| Reply {
            status,
            ..Reply::active()
        })
        .await;
        let answer = endpoint.introspector().lookup("t").await;
        assert_eq!(answer.unwrap_err(), IntrospectError::Status(status));
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // Every answer says `Location: /elsewhere`, which the endpoint also serves.
    let endpoint = serve(|_| Reply {
        status: 307,
        ..Reply::active()
    })
    .await;
    let answer = endpoint.introspector().lookup("t").await;
    assert_eq!(answer.unwrap_err(), IntrospectError::Status(307));
    assert_eq!(endpoint.calls(), 1);
}

#[tokio::test]
async fn an_answer_from_another_url_is_refused() {
    // The first call is redirected to `/elsewhere`, which answers active.
    let calls = AtomicUsize::new(0);
    let endpoint = serve(move |_| match calls.fetch_add(1, Ordering::SeqCst) {
        0 => Reply {
            status: 308,
            ..Reply::active()
        },
        _ => Reply::active(),
    })
    .await;
    // A client that follows redirects, against the advice of `http_client`.
    let following = reqwest::Client::builder().build().unwrap();
    let introspector = endpoint.builder().http_client(following).build().unwrap();
    let answer = introspector.lookup("t").await;
    assert_eq!(
        endpoint.calls(),
        2,
        "the client did not follow the redirect"
    );
    assert!(
        matches!(answer, Err(IntrospectError::Transport(_))),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_too_large() {
    for chunked in [false, true] {
        let endpoint = serve(move |_| {
            let mut body = br#"{"active":true,"pad":""#.to_vec();
            body.resize(65 * 1024, b'x');
            body.extend_from_slice(br#""}"#);
            Reply {
                body,
                chunked,
                ..Reply::active()
            }
        })
        .await;
        let answer = endpoint.introspector().lookup("t").await;
        assert_eq!(
            answer.unwrap_err(),
            IntrospectError::TooLarge,
            "chunked: {chunked}"
        );
    }
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error_that_does_not_show_the_token() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    drop(listener);
    let introspector = Introspector::builder(url, "iss")
        .allow_insecure_http(true)
        .client_basic("id", "the-secret")
        .build()
        .unwrap();
    let error = introspector.lookup("the-token").await.unwrap_err();
    assert!(matches!(error, IntrospectError::Transport(_)), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(
        !shown.contains("the-token") && !shown.contains("the-secret"),
        "{shown}"
    );
}

#[test]
fn exp_is_read_when_it_is_a_number() {
    let exp = |body: &str| parse(body.as_bytes().to_vec()).unwrap().exp;
    assert_eq!(exp(r#"{"active":true}"#), Exp::Absent);
    assert_eq!(
        exp(r#"{"active":true,"exp":1700000000}"#),
        Exp::At(1_700_000_000)
    );
    assert_eq!(
        exp(r#"{"active":true,"exp":1700000000.9}"#),
        Exp::At(1_700_000_000)
    );
    assert_eq!(exp(r#"{"active":true,"exp":-5}"#), Exp::At(0));
    assert_eq!(exp(r#"{"active":true,"exp":"1700000000"}"#), Exp::Unusable);
    assert_eq!(exp(r#"{"active":true,"exp":{}}"#), Exp::Unusable);
    assert_eq!(exp(r#"{"active":true,"exp":null}"#), Exp::Absent);
}

#[test]
fn form_urlencoding_keeps_only_the_safe_bytes() {
    let mut out = String::new();
    form_urlencode("aZ09*-._ ~!'()+:%/é", &mut out);
    assert_eq!(out, "aZ09*-._+%7E%21%27%28%29%2B%3A%25%2F%C3%A9");
}

#[test]
fn error_messages_name_the_failure() {
    assert_eq!(
        IntrospectError::Status(500).to_string(),
        "introspection answered HTTP 500"
    );
    assert_eq!(
        IntrospectError::Timeout.to_string(),
        "introspection timed out"
    );
}
