//! The namespace harness itself: two namespaces joined by a veth pair ping each other, and
//! every guard cleans up after itself.

use vswitch_tests::netns::{Link, Netns, require_root, try_run, unique};

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn veth_between_namespaces_pings_and_cleans_up() {
    if !require_root() {
        return;
    }
    let (a, b) = (unique("vta"), unique("vtb"));
    let ns_names;
    {
        let n1 = Netns::new("vsw-h");
        let n2 = Netns::new("vsw-h");
        let _l = Link::veth(&a, &b);
        n1.adopt(&a, "eth0", "10.231.0.1/24", None);
        n2.adopt(&b, "eth0", "10.231.0.2/24", None);
        assert!(n1.ping("10.231.0.2", 2));
        let bg = n2.spawn(&["sleep", "30"]);
        assert!(bg.pid() > 0);
        ns_names = (n1.name.clone(), n2.name.clone());
    }
    let list = String::from_utf8_lossy(&try_run("ip", &["netns", "list"]).stdout).into_owned();
    assert!(
        !list.contains(&ns_names.0) && !list.contains(&ns_names.1),
        "{list}"
    );
    assert!(!try_run("ip", &["link", "show", &a]).status.success());
}
