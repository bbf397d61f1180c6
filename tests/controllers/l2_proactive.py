"""A proactive L2 forwarding controller for vswitch's system tests (os-ken, OpenFlow 1.3).

On each switch's features reply it installs, in table 0:

- one rule per host: ``priority=100,dl_dst=MAC -> output:PORT``;
- broadcast (ARP requests and the like): ``priority=50,dl_dst=ff:ff:ff:ff:ff:ff -> FLOOD``;

and nothing else, so on a ``secure`` bridge anything else is dropped. The hosts come from
``--hosts MAC=PORT,MAC=PORT``. Once the switch has acknowledged the flows (a barrier reply),
the controller writes ``ready <datapath id>`` into the ``--ready`` file, so a test knows when
forwarding is in place without sleeping.

The reactive learning switch (table-miss to CONTROLLER, packet-in, learn, packet-out) goes
here once vswitch sends packet-ins: a ``EventOFPPacketIn`` handler beside ``features``.

Run: ``python3 l2_proactive.py --port 16653 --hosts 02:..:01=1,02:..:02=2 --ready FILE``
(os-ken 4 ships no ``osken-manager`` script, so this file starts the app manager itself).
"""

import argparse
import sys

from os_ken.lib import hub

hub.patch(thread=False)

from os_ken import cfg  # noqa: E402
from os_ken.base import app_manager  # noqa: E402
from os_ken.controller import ofp_event  # noqa: E402
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER  # noqa: E402
from os_ken.controller.handler import set_ev_cls  # noqa: E402
from os_ken.ofproto import ofproto_v1_3  # noqa: E402

HOSTS = {}
READY = None


class ProactiveL2(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def features(self, ev):
        dp = ev.msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser

        def add(priority, match, actions):
            inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
            dp.send_msg(
                parser.OFPFlowMod(datapath=dp, priority=priority, match=match, instructions=inst)
            )

        for mac, port in HOSTS.items():
            add(100, parser.OFPMatch(eth_dst=mac), [parser.OFPActionOutput(port)])
        add(
            50,
            parser.OFPMatch(eth_dst="ff:ff:ff:ff:ff:ff"),
            [parser.OFPActionOutput(ofp.OFPP_FLOOD)],
        )
        dp.send_msg(parser.OFPBarrierRequest(dp))
        self.logger.info("flows sent to %016x", dp.id)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def barrier(self, ev):
        with open(READY, "a") as f:
            f.write("ready %016x\n" % ev.msg.datapath.id)
        self.logger.info("flows in place on %016x", ev.msg.datapath.id)


def main():
    global READY
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--ready", required=True)
    a = ap.parse_args()
    for item in a.hosts.split(","):
        mac, port = item.split("=")
        HOSTS[mac] = int(port)
    READY = a.ready
    cfg.CONF(
        args=["--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(a.port)],
        project="os_ken",
    )
    mgr = app_manager.AppManager.get_instance()
    mgr.load_apps([__name__, "os_ken.controller.ofp_handler"])
    services = mgr.instantiate_apps(**mgr.create_contexts())
    hub.joinall(services)


if __name__ == "__main__":
    sys.exit(main())
