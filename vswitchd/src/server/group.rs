//! `vswitch.v1.GroupService`: OpenFlow groups (add-group, mod-group, del-groups, dumps).
//!
//! Groups arrive as ovs-ofctl text and are parsed in the daemon with the bridge's port names;
//! each change is durable before the reply (see `switch::groups`). Request size is bounded by
//! the gRPC message limit; a group is one line.

use std::sync::Arc;

use proto::v1 as pb;
use proto::v1::group_service_server::GroupService;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::ofctl::{NoNames, format_group};
use crate::switch::GroupCommand;

/// The GroupService implementation.
#[derive(Debug, Clone)]
pub struct GroupApi {
    shared: Arc<Shared>,
}

impl GroupApi {
    pub fn new(shared: Arc<Shared>) -> GroupApi {
        GroupApi { shared }
    }
}

#[tonic::async_trait]
impl GroupService for GroupApi {
    async fn mod_group(
        &self,
        req: Request<pb::ModGroupRequest>,
    ) -> Result<Response<pb::ModGroupResponse>, Status> {
        let req = req.into_inner();
        let command = req.command();
        let r = match command {
            pb::GroupCommand::Unspecified => {
                Err(Status::invalid_argument("command: add, modify or delete"))
            }
            _ => self
                .shared
                .mutate(move |sw| {
                    let cmd = match command {
                        pb::GroupCommand::Add => GroupCommand::Add(&req.group),
                        pb::GroupCommand::Modify => GroupCommand::Modify {
                            group: &req.group,
                            may_create: req.may_create,
                        },
                        _ => GroupCommand::Delete(&req.group),
                    };
                    sw.group_command(&req.bridge, cmd)
                })
                .await
                .map(|c| {
                    Response::new(pb::ModGroupResponse {
                        groups: c.groups,
                        flows_removed: c.flows_removed,
                    })
                }),
        };
        self.shared.finish("ModGroup", r)
    }

    async fn dump_groups(
        &self,
        req: Request<pb::DumpGroupsRequest>,
    ) -> Result<Response<pb::DumpGroupsResponse>, Status> {
        let req = req.into_inner();
        let r = self
            .shared
            .mutate(move |sw| sw.dump_groups(&req.bridge, &req.group))
            .await
            .map(|entries| {
                let groups = entries
                    .iter()
                    .map(|e| {
                        let (packets, bytes) = e.group.stats.total();
                        pb::GroupEntry {
                            group_id: e.group.spec.id,
                            group: format_group(&e.group.spec, &NoNames, true),
                            ref_count: e.ref_count as u32,
                            packets,
                            bytes,
                            buckets: e
                                .group
                                .stats
                                .buckets()
                                .into_iter()
                                .map(|(packets, bytes)| pb::BucketStats { packets, bytes })
                                .collect(),
                            duration_ms: e.duration_ms,
                        }
                    })
                    .collect();
                Response::new(pb::DumpGroupsResponse { groups })
            });
        self.shared.finish("DumpGroups", r)
    }
}
