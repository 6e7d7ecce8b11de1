//! Crema's HTTP transport: the `/v1` REST API of the SOPHON encoding service
//! (contract: `shared/api/v1.md`), served by axum over [`crema_service::Service`].
