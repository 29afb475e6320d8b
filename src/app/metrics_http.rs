//! `GET /metrics` (Prometheus) on `[metrics] listen`, loopback only.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::{Shared, current};
use crate::health::Health;
use crate::store::Store;

/// Serves `GET /metrics` (Prometheus) on the listener until shutdown.
pub async fn serve(
    listener: tokio::net::TcpListener,
    db: PathBuf,
    shared: Shared,
    health: Arc<Health>,
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let (db, shared, health) = (db.clone(), shared.clone(), health.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (db, shared, health) = (db.clone(), shared.clone(), health.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(
                        metrics_response(req, db, shared, health).await,
                    )
                }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "metrics: connection ended");
            }
        });
    }
}

async fn metrics_response(
    req: hyper::Request<hyper::body::Incoming>,
    db: PathBuf,
    shared: Shared,
    health: Arc<Health>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let reply = |status: u16, content_type: &str, body: String| {
        let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
        if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    if req.method() != hyper::Method::GET || req.uri().path() != "/metrics" {
        return reply(
            404,
            "text/plain",
            "not found; the metrics are at GET /metrics\n".into(),
        );
    }
    let text = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let mut store = Store::open_read_only(&db)?;
        let mut data = store.metrics_data()?;
        // The daemon knows its last poll better than the minutely record.
        data.last_poll = health.last_poll().or(data.last_poll);
        data.faults = health
            .faults()
            .into_iter()
            .map(|(area, f)| (area.to_string(), f.kind.to_string()))
            .collect();
        data.store_errors = health
            .store_errors()
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        let rt = current(&shared);
        Ok(crate::metrics::render(
            &data,
            &crate::runtime::Policy::from_config(&rt.config),
            Utc::now(),
        ))
    })
    .await;
    match text {
        Ok(Ok(text)) => reply(200, crate::metrics::CONTENT_TYPE, text),
        Ok(Err(e)) => reply(
            500,
            "text/plain",
            format!("cannot read the metrics: {e:#}\n"),
        ),
        Err(e) => reply(500, "text/plain", format!("cannot read the metrics: {e}\n")),
    }
}
