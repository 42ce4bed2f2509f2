//! What generic gRPC clients rely on: health checking and server reflection, open even when
//! the admin calls need a token; and the proto's hygiene (buf lint).

mod common;

use std::path::PathBuf;
use std::process::Command;

use contracts_admin::AdminConfig;
use prost::Message as _;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

/// Those generated clients come without `connect`.
async fn channel(url: String) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Both tokens set, discovery left at its default (open).
fn with_token() -> AdminConfig {
    AdminConfig {
        read_token: Some(contracts_core::secret::Secret::new("disc-read")),
        write_token: Some(contracts_core::secret::Secret::new("disc-write")),
        ..AdminConfig::default()
    }
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_each_admin_service_without_a_token() {
    let server = common::start(with_token()).await;
    let mut health = HealthClient::new(channel(server.url()).await);
    for service in [
        "",
        "contracts.admin.v1.AdminService",
        "contracts.admin.v1.OrderAdminService",
        "contracts.admin.v1.InventoryAdminService",
        "contracts.admin.v1.NotificationAdminService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service:?}: {e}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

async fn reflect(url: String, request: MessageRequest) -> ServerReflectionResponse {
    let mut client = ServerReflectionClient::new(channel(url).await);
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        }]))
        .await
        .unwrap()
        .into_inner();
    responses.message().await.unwrap().expect("one response")
}

#[tokio::test]
async fn reflection_lists_every_service_without_a_token() {
    let server = common::start(with_token()).await;
    let response = reflect(server.url(), MessageRequest::ListServices(String::new())).await;
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("{response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "contracts.admin.v1.AdminService",
        "contracts.admin.v1.OrderAdminService",
        "contracts.admin.v1.InventoryAdminService",
        "contracts.admin.v1.NotificationAdminService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
}

#[tokio::test]
async fn reflection_serves_the_admin_proto_with_its_timestamp_import() {
    let server = common::start(AdminConfig::default()).await;
    let response = reflect(
        server.url(),
        MessageRequest::FileContainingSymbol("contracts.admin.v1.AdminService".into()),
    )
    .await;
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("{response:?}");
    };
    let files: Vec<_> = files
        .file_descriptor_proto
        .iter()
        .map(|b| prost_types::FileDescriptorProto::decode(b.as_slice()).unwrap())
        .collect();
    let admin = files
        .iter()
        .find(|f| f.name() == "contracts/admin/v1/admin.proto")
        .expect("admin.proto");
    let methods: Vec<_> = admin
        .service
        .iter()
        .find(|s| s.name() == "AdminService")
        .unwrap()
        .method
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert!(
        methods.contains(&"ReplayDeadLetters".to_owned()),
        "{methods:?}"
    );
    // A client then asks for the import by name, as grpcurl does, and can resolve Timestamp.
    assert!(
        admin
            .dependency
            .iter()
            .any(|d| d == "google/protobuf/timestamp.proto")
    );
    let response = reflect(
        server.url(),
        MessageRequest::FileByFilename("google/protobuf/timestamp.proto".into()),
    )
    .await;
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("the import is not served: {response:?}");
    };
    let timestamp =
        prost_types::FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice())
            .unwrap();
    assert!(
        timestamp
            .message_type
            .iter()
            .any(|m| m.name() == "Timestamp")
    );
}

#[test]
fn the_admin_proto_passes_buf_lint_standard() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let buf = root.join("../../.oracles/node/node_modules/.bin/buf");
    assert!(buf.exists(), "buf is missing: run .ci/install-oracles");
    let out = Command::new(buf)
        .arg("lint")
        .current_dir(root.join("proto"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "buf lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
