//! Address pools that never clash (issue 12 part 3): Docker's bridge networks
//! (docker0 and every `docker network create` / compose network) take 172.17.0.0/16,
//! 172.18.0.0/16, … as Docker picks them, even where the pod already routes that
//! range to the company network, a VPC or the service CIDR — and then containers
//! cannot reach it. Here, as pure functions over procfs text: the pod's IPv4
//! routes (`/proc/net/route`) and addresses (`/proc/net/fib_trie`), and the choice
//! of `bip` and `default-address-pools` that overlaps none of them.
//!
//! IPv6 routes (`/proc/net/ipv6_route`) are only reported: dockerd gives containers
//! no IPv6 unless the user turns it on with a `fixed-cidr-v6` of their own, so there
//! is nothing to pick.

use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// An IPv4 network: address with host bits cleared, and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Net4 {
    addr: u32,
    prefix: u8,
}

impl Net4 {
    /// The network of `addr/prefix` (host bits dropped); None when prefix > 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Net4> {
        (prefix <= 32).then(|| Net4 {
            addr: u32::from(addr) & mask(prefix),
            prefix,
        })
    }

    /// Parse `a.b.c.d/p`; `strict` refuses host bits (a base must be a network).
    pub fn parse(s: &str, strict: bool) -> Option<Net4> {
        let (a, p) = s.split_once('/')?;
        let addr: Ipv4Addr = a.parse().ok()?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))?;
        let net = Net4::new(addr, prefix)?;
        (!strict || net.addr == u32::from(addr)).then_some(net)
    }

    /// The two share at least one address.
    pub fn overlaps(self, other: Net4) -> bool {
        let m = mask(self.prefix.min(other.prefix));
        self.addr & m == other.addr & m
    }

    /// `other` lies wholly inside self.
    pub fn contains(self, other: Net4) -> bool {
        other.prefix >= self.prefix && self.overlaps(other)
    }

    /// The first address plus `n`, as `a.b.c.d/prefix` (e.g. a gateway for `bip`).
    fn host(self, n: u32) -> String {
        format!(
            "{}/{}",
            Ipv4Addr::from(self.addr.wrapping_add(n)),
            self.prefix
        )
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Net4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

impl Serialize for Net4 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One `default-address-pools` entry: networks of `/size` carved out of `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pool {
    /// The block.
    pub base: Net4,
    /// Prefix length of each network taken from it.
    pub size: u8,
}

impl Pool {
    /// How many networks it holds.
    fn networks(self) -> u64 {
        1u64 << (self.size - self.base.prefix).min(32)
    }

    /// daemon.json form.
    fn to_json(self) -> Value {
        json!({ "base": self.base.to_string(), "size": self.size })
    }

    /// Parse DIND_ADDRESS_POOLS's `a.b.c.d/p/s` (a network, 8 ≤ p ≤ s ≤ 30).
    pub fn parse(s: &str) -> Option<Pool> {
        let (base, size) = s.trim().rsplit_once('/')?;
        let base = Net4::parse(base, true)?;
        let size: u8 = size.parse().ok()?;
        (8 <= base.prefix && base.prefix <= size && size <= 30).then_some(Pool { base, size })
    }

    /// Parse a daemon.json / `--default-address-pool` entry `{"base": …, "size": …}`.
    fn from_json(v: &Value) -> Option<Pool> {
        let base = Net4::parse(v.get("base")?.as_str()?, false)?;
        let size = u8::try_from(v.get("size")?.as_u64()?).ok()?;
        (size >= base.prefix && size <= 32).then_some(Pool { base, size })
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} by /{}", self.base, self.size)
    }
}

/// DIND_ADDRESS_POOLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PoolSetting {
    /// Keep Docker's defaults when they overlap nothing, else pick free ones.
    Auto,
    /// Set nothing (overlaps are still warned about).
    Off,
    /// Exactly these pools (docker0 takes the first network of the first).
    List(Vec<Pool>),
}

impl PoolSetting {
    /// `auto`, `off`, or a comma-separated list of `base/prefix/size`.
    pub fn parse(s: &str) -> Option<PoolSetting> {
        match s.trim() {
            "auto" => Some(PoolSetting::Auto),
            "off" => Some(PoolSetting::Off),
            list => list
                .split(',')
                .map(Pool::parse)
                .collect::<Option<Vec<_>>>()
                .map(PoolSetting::List),
        }
    }
}

/// A non-default route of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Destination network.
    pub dest: Net4,
    /// Interface (`*` for unreachable/blackhole routes).
    pub iface: String,
}

/// The pod's IPv4 routes (default excluded) and local addresses, as the probe found them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PodNets {
    /// Non-default routes of the main table.
    pub routes: Vec<Route>,
    /// Local addresses (loopback excluded), each as a /32.
    pub addrs: Vec<Net4>,
    /// IPv6 routes (`prefix (iface)`), only reported: dind-init picks no IPv6 pools.
    pub v6_routes: Vec<String>,
}

/// Routes on interfaces Docker itself creates: they are Docker's pools in use, not the pod's.
fn docker_owned(iface: &str) -> bool {
    iface == "docker0" || iface == "docker_gwbridge" || iface.starts_with("br-")
}

impl PodNets {
    /// Read `<proc>/net/route` and `<proc>/net/fib_trie`; unreadable files give nothing.
    pub fn read(proc: &Path) -> PodNets {
        let text = |f: &str| std::fs::read_to_string(proc.join(f)).unwrap_or_default();
        let mut p = PodNets::from_text(&text("net/route"), &text("net/fib_trie"));
        p.v6_routes = parse_v6_routes(&text("net/ipv6_route"));
        p
    }

    /// Parse both tables, leaving out what belongs to Docker's own bridges (so `plan`
    /// and `doctor` in a pod where Docker runs do not see its networks as the pod's).
    pub fn from_text(route: &str, fib_trie: &str) -> PodNets {
        let all = parse_routes(route);
        let (docker, routes): (Vec<Route>, Vec<Route>) =
            all.into_iter().partition(|r| docker_owned(&r.iface));
        let mut addrs: Vec<Net4> = parse_local_addrs(fib_trie)
            .into_iter()
            .filter(|a| !docker.iter().any(|r| r.dest.contains(*a)))
            .collect();
        addrs.sort();
        addrs.dedup();
        PodNets {
            routes,
            addrs,
            v6_routes: Vec::new(),
        }
    }

    /// Every route and address `net` overlaps, for messages.
    fn clashes(&self, net: Net4) -> Vec<String> {
        let routes = self
            .routes
            .iter()
            .filter(|r| r.dest.overlaps(net))
            .map(|r| format!("route {} ({})", r.dest, r.iface));
        let addrs = self
            .addrs
            .iter()
            .filter(|a| a.overlaps(net))
            .map(|a| format!("address {}", Ipv4Addr::from(a.addr)));
        routes.chain(addrs).collect()
    }
}

/// Non-default routes of /proc/net/route, whose addresses are the kernel's u32 in
/// memory (network order) printed as a native hex number.
pub fn parse_routes(text: &str) -> Vec<Route> {
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|n| Ipv4Addr::from(n.to_ne_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dest, m) = (hex(f.get(1)?)?, u32::from(hex(f.get(7)?)?));
            let prefix = u8::try_from(m.count_ones()).ok()?;
            let dest = Net4::new(dest, prefix).filter(|_| m == mask(prefix))?;
            (prefix > 0).then(|| Route {
                dest,
                iface: f[0].to_string(),
            })
        })
        .collect()
}

/// /proc/net/ipv6_route's routes worth reporting: not default, loopback, link-local,
/// multicast, local (RTF_LOCAL) or on Docker's own bridges.
pub fn parse_v6_routes(text: &str) -> Vec<String> {
    const RTF_LOCAL: u32 = 0x8000_0000;
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = Ipv6Addr::from(u128::from_str_radix(f.first()?, 16).ok()?);
            let plen = u8::from_str_radix(f.get(1)?, 16).ok()?;
            let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
            let iface = *f.get(9)?;
            let seg = dest.segments()[0];
            let skip = plen == 0
                || iface == "lo"
                || docker_owned(iface)
                || flags & RTF_LOCAL != 0
                || seg & 0xffc0 == 0xfe80
                || seg & 0xff00 == 0xff00;
            (!skip).then(|| format!("{dest}/{plen} ({iface})"))
        })
        .collect();
    out.dedup();
    out
}

/// Local addresses from /proc/net/fib_trie: a `|-- a.b.c.d` leaf followed by
/// `/32 host LOCAL`; loopback left out.
pub fn parse_local_addrs(text: &str) -> Vec<Net4> {
    let mut out = Vec::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in text.lines().map(str::trim) {
        if let Some(ip) = line.strip_prefix("|-- ") {
            leaf = ip.parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = leaf.filter(|ip| !ip.is_loopback()) {
                out.extend(Net4::new(ip, 32));
            }
        }
    }
    out
}

/// Docker's own default pools (moby ipamutils), in its order: what users expect.
fn docker_defaults() -> Vec<Pool> {
    let mut v: Vec<Pool> = (17..=31)
        .map(|b| pool(Ipv4Addr::new(172, b, 0, 0), 16, 16))
        .collect();
    v.push(pool(Ipv4Addr::new(192, 168, 0, 0), 16, 20));
    v
}

/// Where dind-init goes when Docker's defaults clash, in this order:
/// 10.200.0.0/16 … 10.215.0.0/16 by /24, because address plans and cluster
/// defaults grow from the bottom of 10/8 (Azure's 10.0/16, k3s 10.42/16 and
/// 10.43/16, kubeadm's 10.96/12, flannel's 10.244/16 stop below or skip it), and
/// /24 networks are what `dockerDefaultAddressPool` users pick; then the
/// RFC 6598 shared range 100.64.0.0/10 as /24s, which only carrier NAT, Tailscale
/// and some EKS custom networking use — and those show up as routes, so they are
/// skipped when present. GCP's auto-mode subnets (10.128.0.0/9) do cover the
/// 10.2xx blocks: routed, they are skipped too.
fn fallbacks() -> Vec<Pool> {
    let mut v: Vec<Pool> = (200..=215)
        .map(|b| pool(Ipv4Addr::new(10, b, 0, 0), 16, 24))
        .collect();
    v.push(pool(Ipv4Addr::new(100, 64, 0, 0), 10, 24));
    v
}

fn pool(a: Ipv4Addr, prefix: u8, size: u8) -> Pool {
    Pool {
        base: Net4 {
            addr: u32::from(a),
            prefix,
        },
        size,
    }
}

/// As many networks as Docker's defaults give (15 × /16 + 16 × /20).
const ENOUGH: u64 = 31;

/// What the plan does about address pools, and why (shown by `plan` and `doctor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The pools dockerd will use (Docker's, the user's, or dind-init's choice).
    pub pools: Vec<Pool>,
    /// docker0's address when dind-init sets it.
    pub bip: Option<String>,
    /// dind-init sets `default-address-pools` (and `bip` if any).
    pub set: bool,
    /// dind-init's values override the user's (DIND_ADDRESS_POOLS was given).
    pub force: bool,
    /// One line: what dockerd gets and why.
    pub why: String,
    /// A clash nobody fixed (the user's value, `off`, or no free range).
    pub warning: Option<String>,
    /// What is (not) done about IPv6, when the pod has IPv6 routes.
    pub ipv6: Option<String>,
}

impl Decision {
    /// The daemon settings to ask for: (key, value, reason).
    pub fn wanted(&self) -> Vec<(&'static str, Value, String)> {
        if !self.set {
            return Vec::new();
        }
        let pools = Value::Array(self.pools.iter().map(|p| p.to_json()).collect());
        let mut v = vec![("default-address-pools", pools, self.why.clone())];
        if let Some(b) = &self.bip {
            v.push(("bip", Value::String(b.clone()), self.why.clone()));
        }
        v
    }
}

/// What the user already configured, read from the effective daemon settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserNets {
    /// `bip`, when set.
    pub bip: Option<String>,
    /// `default-address-pools`, when set (entries that do not parse are left out).
    pub pools: Option<Vec<Pool>>,
    /// `bridge` is set: docker0 is the user's (or none), so `bip` must not be given.
    pub bridge: bool,
}

impl UserNets {
    /// From daemon-setting values by daemon.json key.
    pub fn from_settings<'a>(get: impl Fn(&str) -> Option<&'a Value>) -> UserNets {
        UserNets {
            bip: get("bip").and_then(Value::as_str).map(str::to_string),
            pools: get("default-address-pools").map(|v| {
                v.as_array()
                    .map(|a| a.iter().filter_map(Pool::from_json).collect())
                    .unwrap_or_default()
            }),
            bridge: get("bridge").is_some(),
        }
    }
}

/// Choose `bip` and `default-address-pools`: a pure function of the setting, the
/// pod's routes and addresses, and the user's own values (which win unless
/// DIND_ADDRESS_POOLS is given, and are only warned about when they clash).
pub fn decide(setting: &PoolSetting, pod: &PodNets, user: &UserNets) -> Decision {
    let mut d = decide_v4(setting, pod, user);
    d.ipv6 = (!pod.v6_routes.is_empty()).then(|| {
        format!(
            "IPv6 pools are not chosen (dockerd gives containers IPv6 only with ipv6 on and your fixed-cidr-v6; keep it clear of the pod's IPv6 routes {})",
            pod.v6_routes.join(", ")
        )
    });
    d
}

fn decide_v4(setting: &PoolSetting, pod: &PodNets, user: &UserNets) -> Decision {
    let user_set = user.bip.is_some() || user.pools.is_some();
    match setting {
        PoolSetting::List(list) => {
            let mut d = chosen(list.clone(), user, true, "DIND_ADDRESS_POOLS".into());
            d.warning = clash_warning(list, pod, "DIND_ADDRESS_POOLS");
            d
        }
        PoolSetting::Auto if user_set => {
            // What dind-init wrote at the last start (a restarted container keeps /etc)
            // is still its own choice, not the user's.
            let mine = auto(pod, user);
            let same = mine.set && user.pools.as_ref() == Some(&mine.pools) && user.bip == mine.bip;
            if same {
                mine
            } else {
                user_decision(pod, user)
            }
        }
        PoolSetting::Off if user_set => user_decision(pod, user),
        PoolSetting::Off => {
            let mut d = docker_decision("DIND_ADDRESS_POOLS=off: Docker picks".into());
            d.warning = clash_warning(
                &d.pools,
                pod,
                "Docker's default pools (DIND_ADDRESS_POOLS=off)",
            );
            d
        }
        PoolSetting::Auto => auto(pod, user),
    }
}

/// Docker's defaults when they overlap nothing, else the free candidates.
fn auto(pod: &PodNets, user: &UserNets) -> Decision {
    let clash = |p: &Pool| pod.clashes(p.base);
    let defaults = docker_defaults();
    let mut avoided: Vec<String> = defaults.iter().flat_map(clash).collect();
    if avoided.is_empty() {
        return docker_decision(format!(
            "Docker's default pools overlap none of the pod's routes and addresses ({})",
            pod_summary(pod)
        ));
    }
    avoided.sort();
    avoided.dedup();
    // Every free default (users expect them), then fallbacks until as many
    // networks as Docker's defaults give.
    let mut free: Vec<Pool> = defaults
        .into_iter()
        .filter(|p| clash(p).is_empty())
        .collect();
    for p in fallbacks() {
        if free.iter().map(|p| p.networks()).sum::<u64>() >= ENOUGH {
            break;
        }
        if clash(&p).is_empty() {
            free.push(p);
        }
    }
    let why = format!(
        "Docker's default pools would overlap the pod's {}",
        avoided.join(", ")
    );
    if free.is_empty() {
        let mut d = docker_decision(why.clone());
        d.warning = Some(format!(
            "{why}, and every candidate range is taken too: containers cannot reach those addresses; set DIND_ADDRESS_POOLS to free ranges (e.g. 10.201.0.0/16/24)"
        ));
        return d;
    }
    chosen(free, user, false, why)
}

/// dind-init sets `pools` and, unless `bridge` is the user's (dockerd refuses `-b` with
/// `--bip`), `bip`: the first network of the first pool at that pool's size (/16 for
/// Docker's 172.x, /20 for 192.168, /24 for the fallbacks) — what dockerd itself gives
/// docker0 from such a pool, so docker0 looks as users know it and is never handed out
/// again to a user network.
fn chosen(pools: Vec<Pool>, user: &UserNets, force: bool, why: String) -> Decision {
    let bip = pools.first().filter(|_| !user.bridge).map(|p| {
        let first = Net4 {
            addr: p.base.addr,
            prefix: p.size,
        };
        first.host(1)
    });
    let list: Vec<String> = pools.iter().map(Pool::to_string).collect();
    let why = format!(
        "{why}: networks come from {}{}",
        list.join(", "),
        bip.as_deref()
            .map(|b| format!("; docker0 is {b}"))
            .unwrap_or_default()
    );
    Decision {
        pools,
        bip,
        set: true,
        force,
        why,
        warning: None,
        ipv6: None,
    }
}

fn docker_decision(why: String) -> Decision {
    Decision {
        pools: docker_defaults(),
        bip: None,
        set: false,
        force: false,
        why,
        warning: None,
        ipv6: None,
    }
}

/// The user's own `bip`/`default-address-pools` stay; a clash is a warning.
fn user_decision(pod: &PodNets, user: &UserNets) -> Decision {
    let pools = user.pools.clone().unwrap_or_else(docker_defaults);
    let mut clashes: Vec<String> = pools.iter().flat_map(|p| pod.clashes(p.base)).collect();
    if let Some(net) = user.bip.as_deref().and_then(|b| Net4::parse(b, false)) {
        clashes.extend(pod.clashes(net));
    }
    clashes.sort();
    clashes.dedup();
    let what = match (&user.bip, &user.pools) {
        (Some(b), Some(_)) => format!("your bip {b} and default-address-pools"),
        (Some(b), None) => format!("your bip {b} (networks: Docker's default pools)"),
        _ => "your default-address-pools".into(),
    };
    Decision {
        pools,
        bip: None,
        set: false,
        force: false,
        why: format!("{what} are kept"),
        ipv6: None,
        warning: (!clashes.is_empty()).then(|| {
            format!(
                "{what} overlap the pod's {}: containers cannot reach those addresses; remove them (dind-init then picks free ranges) or set DIND_ADDRESS_POOLS",
                clashes.join(", ")
            )
        }),
    }
}

fn clash_warning(pools: &[Pool], pod: &PodNets, whose: &str) -> Option<String> {
    let mut c: Vec<String> = pools.iter().flat_map(|p| pod.clashes(p.base)).collect();
    c.sort();
    c.dedup();
    (!c.is_empty()).then(|| {
        format!(
            "{whose} overlap the pod's {}: containers cannot reach those addresses",
            c.join(", ")
        )
    })
}

fn pod_summary(pod: &PodNets) -> String {
    let mut v: Vec<String> = pod.routes.iter().map(|r| r.dest.to_string()).collect();
    v.extend(pod.addrs.iter().map(|a| Ipv4Addr::from(a.addr).to_string()));
    if v.is_empty() {
        "it has none besides a default route".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod's tables captured by tests/fixtures/routes/capture.sh.
    fn fixture(name: &str) -> PodNets {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/routes");
        let read = |ext: &str| std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap();
        let mut p = PodNets::from_text(&read("route"), &read("fib_trie"));
        p.v6_routes = parse_v6_routes(&read("ipv6_route"));
        p
    }

    fn net(s: &str) -> Net4 {
        Net4::parse(s, false).unwrap()
    }

    fn pools(d: &Decision) -> Vec<String> {
        d.pools
            .iter()
            .map(|p| format!("{}/{}", p.base, p.size))
            .collect()
    }

    #[test]
    fn routes_and_addresses_of_real_tables() {
        let rows: [(&str, &[&str], &[&str]); 8] = [
            ("devcontainer", &["172.17.0.0/16"], &["172.17.0.2/32"]),
            (
                "k3s-flannel",
                &["10.42.0.0/24", "10.42.0.0/16"],
                &["10.42.0.17/32"],
            ),
            (
                "k3s-node-lan",
                &["10.42.0.0/24", "10.42.1.0/24", "192.168.1.0/24"],
                &["10.42.0.0/32", "10.42.0.1/32", "192.168.1.50/32"],
            ),
            (
                "gke-vpc",
                &[
                    "10.52.1.0/24",
                    "10.128.0.0/9",
                    "172.16.0.32/28",
                    "192.168.0.0/16",
                ],
                &["10.52.1.7/32"],
            ),
            ("eks-vpc", &["169.254.1.1/32"], &["172.31.40.12/32"]),
            (
                "vpn-172-16-12",
                &["10.42.0.0/24", "172.16.0.0/12"],
                &["10.42.0.17/32"],
            ),
            (
                "all-taken",
                &[
                    "10.42.0.0/24",
                    "10.128.0.0/9",
                    "100.64.0.0/10",
                    "172.16.0.0/12",
                    "192.168.0.0/16",
                ],
                &["10.42.0.17/32"],
            ),
            (
                "docker-running",
                &["10.42.0.0/24", "10.42.0.0/16"],
                &["10.42.0.17/32"],
            ),
        ];
        for (name, routes, addrs) in rows {
            let p = fixture(name);
            let mut got: Vec<String> = p.routes.iter().map(|r| r.dest.to_string()).collect();
            let mut want: Vec<String> = routes.iter().map(|s| s.to_string()).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{name} routes");
            let got: Vec<String> = p.addrs.iter().map(Net4::to_string).collect();
            assert_eq!(got, *addrs, "{name} addresses");
            let ifaces = ["eth0", "cni0", "flannel.1"];
            assert!(
                p.routes.iter().all(|r| ifaces.contains(&r.iface.as_str())),
                "{name}: {p:?}"
            );
        }
    }

    #[test]
    fn ipv6_routes_are_reported_not_acted_on() {
        let gke = fixture("gke-vpc");
        assert_eq!(
            gke.v6_routes,
            ["2600:1900:4001:1::/64 (eth0)", "2600:1900::/28 (eth0)"]
        );
        let d = decide(&PoolSetting::Auto, &gke, &UserNets::default());
        assert!(d.ipv6.as_deref().unwrap().contains("2600:1900::/28 (eth0)"));
        assert!(d.wanted().iter().all(|w| !w.0.contains("v6")));
        let k3s = fixture("k3s-flannel");
        assert!(
            k3s.v6_routes.is_empty(),
            "link-local and multicast only: {k3s:?}"
        );
        assert_eq!(
            decide(&PoolSetting::Auto, &k3s, &UserNets::default()).ipv6,
            None
        );
    }

    #[test]
    fn pools_chosen_for_real_tables() {
        // (fixture, pools dockerd uses, dind-init sets them, bip, words in why/warning)
        type Row<'a> = (&'a str, &'a [&'a str], bool, Option<&'a str>, &'a str);
        let rows: [Row; 8] = [
            ("devcontainer", &["172.18.0.0/16/16", "172.31.0.0/16/16", "192.168.0.0/16/20", "10.200.0.0/16/24"], true, Some("172.18.0.1/16"), "route 172.17.0.0/16 (eth0)"),
            ("k3s-flannel", &["172.17.0.0/16/16", "192.168.0.0/16/20"], false, None, "overlap none of the pod's routes and addresses (10.42.0.0/24, 10.42.0.0/16, 10.42.0.17)"),
            ("docker-running", &["172.17.0.0/16/16", "192.168.0.0/16/20"], false, None, "overlap none"),
            ("k3s-node-lan", &["172.17.0.0/16/16", "172.31.0.0/16/16", "10.200.0.0/16/24"], true, Some("172.17.0.1/16"), "route 192.168.1.0/24 (eth0)"),
            ("gke-vpc", &["172.17.0.0/16/16", "172.31.0.0/16/16", "100.64.0.0/10/24"], true, Some("172.17.0.1/16"), "route 192.168.0.0/16 (eth0)"),
            ("eks-vpc", &["172.17.0.0/16/16", "172.30.0.0/16/16", "192.168.0.0/16/20", "10.200.0.0/16/24"], true, Some("172.17.0.1/16"), "address 172.31.40.12"),
            ("vpn-172-16-12", &["192.168.0.0/16/20", "10.200.0.0/16/24"], true, Some("192.168.0.1/20"), "route 172.16.0.0/12 (eth0)"),
            ("all-taken", &["172.17.0.0/16/16", "192.168.0.0/16/20"], false, None, "every candidate range is taken"),
        ];
        for (name, want, set, bip, words) in rows {
            let d = decide(&PoolSetting::Auto, &fixture(name), &UserNets::default());
            let got = pools(&d);
            assert_eq!(
                got.first(),
                want.first().map(|s| s.to_string()).as_ref(),
                "{name}: {got:?}"
            );
            for w in want {
                assert!(got.contains(&w.to_string()), "{name}: {w} not in {got:?}");
            }
            assert_eq!(d.set, set, "{name}");
            assert_eq!(d.bip.as_deref(), bip, "{name}");
            let text = format!("{} {}", d.why, d.warning.clone().unwrap_or_default());
            assert!(text.contains(words), "{name}: {text}");
            // Nothing dind-init sets overlaps the pod, nor the service CIDRs of k3s
            // (10.43/16) and kubeadm (10.96/12), which no pod sees as a route.
            if d.set {
                for svc in ["10.43.0.0/16", "10.96.0.0/12"] {
                    assert!(
                        d.pools.iter().all(|p| !p.base.overlaps(net(svc))),
                        "{name}: {svc}"
                    );
                }
                let p = fixture(name);
                for pl in &d.pools {
                    assert!(p.clashes(pl.base).is_empty(), "{name}: {pl} clashes");
                }
                assert_eq!(d.wanted().len(), 2, "{name}");
            }
        }
    }

    #[test]
    fn gke_avoids_the_vpc_and_on_prem_and_keeps_dockers_172() {
        let d = decide(
            &PoolSetting::Auto,
            &fixture("gke-vpc"),
            &UserNets::default(),
        );
        let got = pools(&d);
        // 192.168/16 (on-prem) and 10.2xx (auto-mode VPC 10.128/9) are skipped;
        // 172.16.0.32/28 lies outside Docker's 172.17–31.
        assert!(
            !got.iter()
                .any(|p| p.starts_with("192.168.") || p.starts_with("10.")),
            "{got:?}"
        );
        assert_eq!(got.len(), 16, "{got:?}");
    }

    #[test]
    fn users_values_win_and_are_warned_about_only_when_they_clash() {
        let vpn = fixture("vpn-172-16-12");
        let user = |bip: Option<&str>, pools: Option<&str>| UserNets {
            bip: bip.map(str::to_string),
            pools: pools.map(|p| vec![Pool::parse(p).unwrap()]),
            bridge: false,
        };
        let d = decide(&PoolSetting::Auto, &vpn, &user(Some("172.18.0.1/16"), None));
        assert!(!d.set && d.wanted().is_empty());
        let w = d.warning.unwrap();
        assert!(
            w.contains("your bip 172.18.0.1/16") && w.contains("route 172.16.0.0/12 (eth0)"),
            "{w}"
        );
        let d = decide(
            &PoolSetting::Auto,
            &vpn,
            &user(Some("10.9.0.1/24"), Some("10.10.0.0/16/24")),
        );
        assert_eq!((d.set, d.warning.as_deref()), (false, None));
        assert_eq!(pools(&d), ["10.10.0.0/16/24"]);
        // DIND_ADDRESS_POOLS beats the user's daemon.json, and says when it clashes itself.
        let list = PoolSetting::parse("10.201.0.0/16/24,172.20.0.0/16/24").unwrap();
        let d = decide(&list, &vpn, &user(Some("172.18.0.1/16"), None));
        assert!(d.set && d.force);
        assert_eq!(d.bip.as_deref(), Some("10.201.0.1/24"));
        assert!(d
            .warning
            .unwrap()
            .contains("DIND_ADDRESS_POOLS overlap the pod's route 172.16.0.0/12"));
    }

    /// A pod restart keeps the container's /etc: the daemon.json dind-init wrote at the
    /// last start holds its own choice, which is not "the user's" value.
    #[test]
    fn its_own_earlier_choice_is_not_taken_for_the_users() {
        let vpn = fixture("vpn-172-16-12");
        let first = decide(&PoolSetting::Auto, &vpn, &UserNets::default());
        let written = UserNets {
            bip: first.bip.clone(),
            pools: Some(first.pools.clone()),
            bridge: false,
        };
        let again = decide(&PoolSetting::Auto, &vpn, &written);
        assert_eq!(again, first);
    }

    #[test]
    fn a_users_bridge_gets_no_bip_and_off_sets_nothing_but_warns() {
        let vpn = fixture("vpn-172-16-12");
        let bridge = UserNets {
            bridge: true,
            ..UserNets::default()
        };
        let d = decide(&PoolSetting::Auto, &vpn, &bridge);
        assert!(d.set && d.bip.is_none());
        assert_eq!(
            d.wanted().iter().map(|w| w.0).collect::<Vec<_>>(),
            ["default-address-pools"]
        );
        let d = decide(&PoolSetting::Off, &vpn, &UserNets::default());
        assert!(!d.set);
        assert!(d.warning.unwrap().contains("route 172.16.0.0/12"));
    }

    #[test]
    fn setting_parse_rows() {
        let rows = [
            ("auto", true),
            ("off", true),
            ("10.201.0.0/16/24", true),
            ("10.201.0.0/16/24, 10.202.0.0/16/24", true),
            ("10.201.0.1/16/24", false),
            ("10.201.0.0/16", false),
            ("10.201.0.0/24/16", false),
            ("10.201.0.0/16/31", false),
            ("10.0.0.0/7/24", false),
            ("10.201.0.0/16/24,", false),
            ("300.0.0.0/16/24", false),
            ("", false),
        ];
        for (s, ok) in rows {
            assert_eq!(PoolSetting::parse(s).is_some(), ok, "{s:?}");
        }
    }

    #[test]
    fn overlap_and_daemon_json_forms() {
        assert!(net("172.16.0.0/12").overlaps(net("172.20.0.0/16")));
        assert!(!net("172.16.0.0/12").overlaps(net("172.32.0.0/16")));
        assert!(net("0.0.0.0/0").overlaps(net("1.2.3.4/32")));
        let p = Pool::parse("10.201.0.0/16/24").unwrap();
        assert_eq!(p.to_json(), json!({"base": "10.201.0.0/16", "size": 24}));
        assert_eq!(Pool::from_json(&p.to_json()), Some(p));
        assert_eq!(p.networks(), 256);
    }
}
