//! The generated gRPC code (from `core/proto/spate.proto`) and the secret check every call
//! passes.

#[allow(missing_docs, clippy::all, rust_2018_idioms)]
pub(crate) mod pb {
    tonic::include_proto!("spate.cluster");
}
