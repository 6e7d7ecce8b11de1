//! Request bodies that stall: a client that stops sending in the middle of a
//! body for longer than the body idle timeout gets `400 validation_error`
//! ("the request body stalled …") and its connection is closed.
//!
//! The timer is tower-http's [`TimeoutBody`] (reset by every chunk). Its
//! error reaches whoever reads the body (the `Idempotency-Key` layer, the
//! JSON extractor, the upload-part writer in the service) as a plain read
//! failure, which each maps to its own status (`413`, `422`). This middleware
//! marks the stall when it happens and replaces whatever answer came back
//! with the one the contract allows on every SOPHON route that takes a body
//! (`400`; contract, "Errors").

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tower_http::timeout::{TimeoutBody, TimeoutError};

/// The body idle timeout of a request, put in its extensions by
/// [`crate::serve_with`] ([`crate::ServeOptions::body_idle_timeout`]);
/// [`crate::BODY_IDLE_TIMEOUT`] (60 s) when absent.
#[derive(Clone, Copy, Debug)]
pub struct BodyIdleTimeout(pub Duration);

/// The middleware (see the module docs); inside the request-ID layer, so the
/// `400` leaves as the envelope.
pub async fn middleware(req: Request, next: Next) -> Response {
    let timeout = req.extensions().get::<BodyIdleTimeout>().map_or(crate::BODY_IDLE_TIMEOUT, |t| t.0);
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = stalled.clone();
    let req = req.map(|body| Body::new(StallBody { body: Box::pin(TimeoutBody::new(timeout, body)), stalled: flag }));
    let res = next.run(req).await;
    if !stalled.load(Ordering::Acquire) {
        return res;
    }
    let message = format!(
        "the request body stalled: no data arrived for {} s; send the body without pauses and retry",
        timeout.as_secs_f32()
    );
    let mut res = ApiError::new(StatusCode::BAD_REQUEST, crema_service::ErrorCode::ValidationError, message).with_reason("body_timeout").into_response();
    // The rest of the body may still arrive: do not read it as the next request.
    res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// A request body that records whether its idle timer fired.
struct StallBody {
    body: Pin<Box<TimeoutBody<Body>>>,
    stalled: Arc<AtomicBool>,
}

impl http_body::Body for StallBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = this.body.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Err(e))) = &frame
            && e.is::<TimeoutError>()
        {
            this.stalled.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
