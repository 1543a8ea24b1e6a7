//! What the crate logs and which `jwt_auth` spans it opens, captured per test thread under
//! one process-wide subscriber.
//!
//! Why global: a scoped (`set_default`) subscriber races tracing's callsite-interest cache
//! when tests run in parallel. A callsite first hit on a thread with no subscriber can be
//! cached as "never", and the span or event is then silently skipped. Under one global
//! subscriber every callsite's interest is "always". Captures are thread-local, so each
//! test sees only what its own thread (a `#[tokio::test]` runtime, in-process router
//! included) produced.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Once;

use tracing_subscriber::layer::SubscriberExt;

/// One span's fields by name, as last recorded; `id` is tracing's span id.
pub type SpanFields = BTreeMap<String, String>;

thread_local! {
    static LOGS: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
    static SPANS: RefCell<Option<Vec<SpanFields>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns what the fmt layer wrote on this thread meanwhile.
pub fn capture_logs(f: impl FnOnce()) -> String {
    install();
    LOGS.with_borrow_mut(|logs| *logs = Some(Vec::new()));
    f();
    let logs = LOGS.with_borrow_mut(Option::take).unwrap_or_default();
    String::from_utf8(logs).unwrap()
}

/// Starts keeping this thread's `jwt_auth` spans; [`SpanCapture::finish`] hands them over.
pub struct SpanCapture(());

impl SpanCapture {
    pub fn start() -> Self {
        install();
        SPANS.with_borrow_mut(|spans| *spans = Some(Vec::new()));
        SpanCapture(())
    }

    /// The spans opened on this thread since `start`, in order.
    pub fn finish(self) -> Vec<SpanFields> {
        SPANS.with_borrow_mut(Option::take).unwrap_or_default()
    }
}

impl Drop for SpanCapture {
    fn drop(&mut self) {
        SPANS.with_borrow_mut(|spans| *spans = None);
    }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| ThreadLogs);
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::TRACE)
            .with(fmt)
            .with(ThreadSpans);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
}

/// Appends to this thread's log capture while one is open, else drops the bytes.
struct ThreadLogs;

impl Write for ThreadLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.with_borrow_mut(|logs| {
            if let Some(buffer) = logs {
                buffer.extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps the fields of each `jwt_auth` span on this thread while a capture is open.
struct ThreadSpans;

struct Fields<'a>(&'a mut SpanFields);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> tracing_subscriber::Layer<S> for ThreadSpans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "jwt_auth" {
            return;
        }
        SPANS.with_borrow_mut(|spans| {
            if let Some(spans) = spans {
                let mut fields = SpanFields::from([("id".to_owned(), id.into_u64().to_string())]);
                attrs.record(&mut Fields(&mut fields));
                spans.push(fields);
            }
        });
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let id = id.into_u64().to_string();
        SPANS.with_borrow_mut(|spans| {
            if let Some(fields) = spans.iter_mut().flatten().rev().find(|f| f["id"] == id) {
                values.record(&mut Fields(fields));
            }
        });
    }
}
