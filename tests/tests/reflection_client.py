"""A non-vswitch-ctl gRPC client: discovers the API through server reflection only (no
generated stubs), then calls BridgeService.ListBridges with dynamically built messages.

Usage: reflection_client.py unix:/path/to/socket
Prints one JSON object: {"services": [...], "methods": [...], "bridges": [...]}.
"""

import json
import sys

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main() -> None:
    # Over a unix socket grpcio sends the socket path as :authority, which HTTP/2 servers
    # that validate it (tonic's h2) reject; "localhost" is the UDS convention.
    channel = grpc.insecure_channel(
        sys.argv[1], options=[("grpc.default_authority", "localhost")]
    )
    db = ProtoReflectionDescriptorDatabase(channel)
    services = sorted(db.get_services())
    pool = descriptor_pool.DescriptorPool(db)
    svc = pool.FindServiceByName("vswitch.v1.BridgeService")
    method = svc.FindMethodByName("ListBridges")
    req_cls = message_factory.GetMessageClass(method.input_type)
    resp_cls = message_factory.GetMessageClass(method.output_type)
    call = channel.unary_unary(
        "/vswitch.v1.BridgeService/ListBridges",
        request_serializer=req_cls.SerializeToString,
        response_deserializer=resp_cls.FromString,
    )
    resp = call(req_cls(), timeout=10)
    print(
        json.dumps(
            {
                "services": services,
                "methods": sorted(m.name for m in svc.methods),
                "bridges": list(resp.bridges),
            }
        )
    )


if __name__ == "__main__":
    main()
