#include "reference_shop/patroni_cluster.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "common/http_client.h"
#include "common/loopback.h"
#include "reference_shop/child_process.h"
#include "reference_shop/passwords.h"
#include "reference_shop/pg_connection.h"

namespace stampede::shop {

namespace fs = std::filesystem;
namespace json = boost::json;
using steady = std::chrono::steady_clock;

namespace {

// Whether `pid` still runs. A child of ours that exited is reaped here (a zombie answers kill(pid, 0)).
bool alive(pid_t pid) {
  if (pid <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid) return false;
  if (r == 0) return true;
  return ::kill(pid, 0) == 0 || errno == EPERM;  // not our child: ask the kernel
}

// Waits until none of `pids` runs or `deadline` passes; true if all are gone. `also_reap`: processes that
// may exit meanwhile as our children (postmasters re-parented to us): reaped as they go, because Patroni
// waits for its postmaster to vanish and a zombie never does.
bool wait_gone(const std::vector<pid_t>& pids, steady::time_point deadline,
               const std::vector<pid_t>& also_reap = {}) {
  while (true) {
    for (pid_t p : also_reap) (void)alive(p);
    bool any = false;
    for (pid_t p : pids) any = any || alive(p);
    if (!any) return true;
    if (steady::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});  // polling processes we cannot wait for
  }
}

std::optional<json::object> get_json(uint16_t port, std::string_view target) {
  try {
    http::blocking_client client{"127.0.0.1", port, std::chrono::milliseconds{700}};
    const auto r = client.get(target);
    if (r.body.empty()) return std::nullopt;
    auto v = json::parse(r.body);
    if (!v.is_object()) return std::nullopt;
    return v.as_object();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string{v->as_string()} : std::string{};
}

// The postmaster's pid from postmaster.pid (first line), if that process runs as `uid`. The file belongs to
// the server's user: a pid in it is only believed for a process of that user (we may be root, and signal it).
pid_t read_postmaster_pid(const fs::path& data_dir, uid_t uid) {
  std::ifstream in{data_dir / "postmaster.pid"};
  long pid = -1;
  if (!(in >> pid) || pid <= 1 || pid >= (1L << 22)) return -1;
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0 || st.st_uid != uid) return -1;
  return static_cast<pid_t>(pid);
}

void make_dir(const fs::path& dir, uid_t uid, gid_t gid) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
  if (::chown(dir.c_str(), uid, gid) != 0 || ::chmod(dir.c_str(), 0700) != 0) {
    throw std::runtime_error("cannot hand " + dir.string() +
                             " to the postgres user: " + std::strerror(errno));
  }
}

void write_owned(const fs::path& path, const std::string& text, uid_t uid, gid_t gid) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool owned = ::geteuid() != 0 || ::fchown(fd, uid, gid) == 0;
  ::close(fd);
  if (!ok || !owned) throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

patroni_cluster::patroni_cluster(patroni_cluster_options options) : options_(std::move(options)) {}

patroni_cluster::~patroni_cluster() { stop(); }

void patroni_cluster::check_environment() {
  const std::pair<std::string, const char*> needed[] = {{options_.etcd_bin, "etcd-server"},
                                                        {options_.patroni_bin, "patroni"},
                                                        {options_.python, "python3"},
                                                        {options_.pg_bin_dir + "/postgres", "postgresql-15"},
                                                        {options_.pg_bin_dir + "/initdb", "postgresql-15"}};
  for (const auto& [path, package] : needed) {
    if (::access(path.c_str(), X_OK) != 0) {
      throw std::runtime_error(path + " is missing: install Debian's " + package +
                               " package (scripts/setup.sh installs it)");
    }
  }
  // Patroni's etcd client and PostgreSQL driver, as Debian's interpreter sees them (bounded: 20 s).
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string{std::strerror(errno)});
  if (pid == 0) {
    const int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, 0);
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execl(options_.python.c_str(), "python3", "-c", "import etcd, psycopg2", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = steady::now() + std::chrono::seconds{20};
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (steady::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});  // polling a short-lived child
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(options_.python +
                             " cannot import etcd and psycopg2: install Debian's python3-etcd and "
                             "python3-psycopg2 packages (scripts/setup.sh installs them)");
  }
  const auto account = postgres_account();
  if (!account) {
    throw std::runtime_error(
        "user postgres not found (PostgreSQL refuses to run as root): install Debian's postgresql-15 "
        "package");
  }
  account_ = *account;
}

void patroni_cluster::start_etcd() {
  const fs::path dir = options_.dir / "etcd";
  make_dir(dir, ::geteuid(), ::getegid());
  etcd_client_port_ = options_.etcd_client_port != 0 ? options_.etcd_client_port : free_loopback_port();
  etcd_peer_port_ = free_loopback_port();
  const std::string client = "http://127.0.0.1:" + std::to_string(etcd_client_port_);
  const std::string peer = "http://127.0.0.1:" + std::to_string(etcd_peer_port_);
  // v2 API on: Patroni's `etcd:` DCS (python3-etcd) speaks v2.
  const std::vector<std::string> argv{"etcd",
                                      "--name=stampede",
                                      "--data-dir=" + (dir / "data").string(),
                                      "--listen-client-urls=" + client,
                                      "--advertise-client-urls=" + client,
                                      "--listen-peer-urls=" + peer,
                                      "--initial-advertise-peer-urls=" + peer,
                                      "--initial-cluster=stampede=" + peer,
                                      "--initial-cluster-state=new",
                                      "--enable-v2=true",
                                      "--log-outputs=stderr"};
  const fs::path log = dir / "etcd.log";
  etcd_pid_ = spawn_as(nullptr, options_.etcd_bin, argv, {}, log, SIGKILL);  // as this process, in its cwd
  const auto deadline = steady::now() + std::chrono::seconds{20};
  while (!get_json(etcd_client_port_, "/health")) {
    if (!alive(etcd_pid_)) {
      etcd_pid_ = -1;
      throw std::runtime_error("etcd exited at start: " + log_tail(log, 4));
    }
    if (steady::now() >= deadline)
      throw std::runtime_error("etcd not healthy within 20 s: " + log_tail(log, 4));
    std::this_thread::sleep_for(std::chrono::milliseconds{100});  // polling a starting server
  }
}

void patroni_cluster::write_member_config(const patroni_member& m) const {
  const std::string q = "\"";
  auto quoted = [&](const fs::path& p) { return q + p.string() + q; };
  std::string y;
  y += "scope: " + options_.scope + "\n";
  y += "name: " + m.name + "\n";
  y += "log:\n  level: INFO\n";
  // Behind fault proxies when asked (member_links.h): the other members' view of its REST API, and its
  // own way to etcd (use_proxies: take the host as given, never the cluster's advertised client URLs).
  const auto rest_via = options_.rest_via.find(m.name);
  y += "restapi:\n  listen: 127.0.0.1:" + std::to_string(m.rest_port) + "\n  connect_address: " +
       (rest_via != options_.rest_via.end() ? rest_via->second : "127.0.0.1:" + std::to_string(m.rest_port)) +
       "\n";
  const auto dcs_via = options_.dcs_via.find(m.name);
  y += "etcd:\n  host: " +
       (dcs_via != options_.dcs_via.end() ? dcs_via->second
                                          : "127.0.0.1:" + std::to_string(etcd_client_port_)) +
       "\n  protocol: http\n";
  if (dcs_via != options_.dcs_via.end()) y += "  use_proxies: true\n";
  y += "bootstrap:\n  dcs:\n";
  y += "    ttl: " + std::to_string(options_.ttl) + "\n";
  y += "    loop_wait: " + std::to_string(options_.loop_wait) + "\n";
  y += "    retry_timeout: " + std::to_string(options_.retry_timeout) + "\n";
  y += "    maximum_lag_on_failover: 1048576\n";
  y += std::string{"    synchronous_mode: "} + (options_.synchronous ? "true" : "false") + "\n";
  y += "    postgresql:\n      use_pg_rewind: true\n      parameters:\n";
  y += "        max_connections: " + std::to_string(options_.max_connections) + "\n";
  // Non-zero on every member: two-phase commit needs prepared transactions (Patroni's default is 0).
  y += "        max_prepared_transactions: " + std::to_string(options_.max_prepared_transactions) + "\n";
  y += "        wal_level: replica\n        hot_standby: 'on'\n        wal_log_hints: 'on'\n";
  y += "        max_wal_senders: 10\n        max_replication_slots: 10\n";
  y += "        shared_buffers: 32MB\n        jit: 'off'\n        max_parallel_workers_per_gather: 0\n";
  y += "  initdb:\n    - encoding: UTF8\n    - locale: C.UTF-8\n    - auth-host: scram-sha-256\n"
       "    - auth-local: peer\n";
  if (options_.fast_initdb) y += "    - no-sync\n";
  y += "postgresql:\n";
  y += "  listen: 127.0.0.1:" + std::to_string(m.pg_port) + "\n";
  // The address the other members replicate (and clone, and rewind) from: a fault proxy when asked.
  const auto via = options_.replication_via.find(m.name);
  const std::string connect_address =
      via != options_.replication_via.end() ? via->second : "127.0.0.1:" + std::to_string(m.pg_port);
  y += "  connect_address: " + connect_address + "\n";
  y += "  data_dir: " + quoted(m.dir / "data") + "\n";
  y += "  bin_dir: " + quoted(options_.pg_bin_dir) + "\n";
  y += "  pgpass: " + quoted(m.dir / "pgpass") + "\n";
  y += "  authentication:\n";
  y += "    superuser:\n      username: postgres\n      password: " + superuser_password_ + "\n";
  y += "    replication:\n      username: replicator\n      password: " + replication_password_ + "\n";
  y += "    rewind:\n      username: postgres\n      password: " + superuser_password_ + "\n";
  // Patroni itself talks over the unix socket (peer: the postgres OS user is the postgres role); everything
  // else over TCP on 127.0.0.1 with scram.
  y += "  pg_hba:\n    - local all postgres peer\n";
  y += "    - host replication replicator 127.0.0.1/32 scram-sha-256\n";
  y += "    - host all all 127.0.0.1/32 scram-sha-256\n";
  const std::string socket_dir = m.dir.string().size() + 16 < 107 ? m.dir.string() : std::string{};
  y += "  parameters:\n    unix_socket_directories: " + q + socket_dir + q + "\n";
  y += "    listen_addresses: 127.0.0.1\n";
  y += "tags:\n  nofailover: false\n  noloadbalance: false\n  clonefrom: false\n  nosync: false\n";
  write_owned(m.dir / "member.yml", y, account_.uid, account_.gid);
}

// As the server's user, death signal SIGTERM (Patroni then stops its PostgreSQL), a minimal environment.
pid_t patroni_cluster::spawn_as_server_user(const std::vector<std::string>& argv, const fs::path& cwd,
                                            const fs::path& log) const {
  const std::vector<std::string> env{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=" + cwd.string()};
  return spawn_as(&account_, options_.python, argv, cwd, log, SIGTERM, &env);
}

void patroni_cluster::start(std::chrono::seconds timeout) {
  if (options_.replicas < 0 || options_.replicas > 8)
    throw std::invalid_argument("--replicas must be in [0, 8]");
  check_environment();
  const auto deadline = steady::now() + timeout;
  std::error_code ec;
  fs::remove_all(options_.dir, ec);  // a fresh cluster on every start (new passwords, new ports)
  make_dir(options_.dir, ::geteuid(), ::getegid());
  if (::geteuid() == 0) {
    // The postgres user walks through to its directories: DIR/patroni and the shop's data directory (made
    // 0700 by mkdtemp) get the search bit for others; nothing in them is readable that way.
    ::chmod(options_.dir.c_str(), 0711);
    struct stat st {};
    const fs::path parent = options_.dir.parent_path();
    if (::stat(parent.c_str(), &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & S_IXOTH) == 0) {
      ::chmod(parent.c_str(), (st.st_mode & 07777) | S_IXOTH);
    }
  }
  superuser_password_ = random_token();
  replication_password_ = random_token();
  write_owned(options_.dir / "superuser.password", superuser_password_ + "\n", ::geteuid(), ::getegid());
  if (options_.shared_etcd_port != 0) {
    etcd_client_port_ = options_.shared_etcd_port;  // another cluster's: a scope of ours in it
  } else {
    start_etcd();
  }
  for (int i = 1; i <= options_.replicas + 1; ++i) {
    patroni_member m;
    m.name = "pg" + std::to_string(i);
    m.dir = options_.dir / m.name;
    const auto index = static_cast<size_t>(i - 1);
    m.pg_port = index < options_.pg_ports.size() ? options_.pg_ports[index] : free_loopback_port();
    m.rest_port = index < options_.rest_ports.size() ? options_.rest_ports[index] : free_loopback_port();
    make_dir(m.dir, account_.uid, account_.gid);
    write_member_config(m);
    members_.push_back(m);
  }
  // pg1 first, alone, so that it bootstraps (initdb) and the others clone from it: one initdb on a
  // busy machine instead of a race of several.
  for (auto& m : members_) {
    start_member(m);
    if (&m != &members_.front()) continue;
    while (!refresh() || members_.front().role != "leader") {
      if (!alive(m.patroni_pid))
        throw std::runtime_error("patroni " + m.name + " exited at start: " + logs_tail());
      if (steady::now() >= deadline) throw std::runtime_error("no Patroni leader in time: " + logs_tail());
      std::this_thread::sleep_for(std::chrono::milliseconds{250});  // polling the REST APIs
    }
  }
  while (true) {
    const auto leader = refresh();
    int streaming = 0, sync = 0;
    if (leader) {
      if (auto st = get_json(members_[*leader].rest_port, "/patroni")) {
        if (const auto* rep = st->if_contains("replication"); rep != nullptr && rep->is_array()) {
          for (const auto& r : rep->as_array()) {
            if (!r.is_object()) continue;
            streaming += str(r.as_object(), "state") == "streaming";
            sync += str(r.as_object(), "sync_state") == "sync";
          }
        }
      }
    }
    bool postmasters = true;
    for (const auto& m : members_) postmasters = postmasters && m.postmaster_pid > 0;
    if (leader && streaming >= options_.replicas && postmasters &&
        (!options_.synchronous || options_.replicas == 0 || sync >= 1)) {
      write_signal_script();
      return;
    }
    for (const auto& m : members_) {
      if (!alive(m.patroni_pid))
        throw std::runtime_error("patroni " + m.name + " exited at start: " + logs_tail());
    }
    if (steady::now() >= deadline) {
      throw std::runtime_error("the Patroni cluster did not form within " + std::to_string(timeout.count()) +
                               " s (" + std::to_string(streaming) + " of " +
                               std::to_string(options_.replicas) + " replicas streaming): " + logs_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{250});  // polling the REST APIs
  }
}

std::optional<size_t> patroni_cluster::refresh() {
  std::optional<size_t> leader;
  std::vector<std::string> sync_names;
  for (size_t i = 0; i < members_.size(); ++i) {
    auto& m = members_[i];
    const pid_t pm = read_postmaster_pid(m.dir / "data", account_.uid);
    if (pm > 0) m.postmaster_pid = pm;
    const auto st = get_json(m.rest_port, "/patroni");
    if (!st) {
      m.role = "unknown";
      continue;
    }
    const std::string role = str(*st, "role");
    // Patroni 3.0 says "master"; later versions say "primary".
    if ((role == "master" || role == "primary") && str(*st, "state") == "running") {
      m.role = "leader";
      leader = i;
      if (const auto* rep = st->if_contains("replication"); rep != nullptr && rep->is_array()) {
        for (const auto& r : rep->as_array()) {
          if (r.is_object() && str(r.as_object(), "sync_state") == "sync") {
            sync_names.push_back(str(r.as_object(), "application_name"));
          }
        }
      }
    } else {
      m.role = role == "replica" ? "replica" : role.empty() ? "unknown" : role;
    }
  }
  for (auto& m : members_) {
    for (const auto& n : sync_names) {
      if (m.name == n && m.role == "replica") m.role = "sync_standby";
    }
  }
  return leader;
}

void patroni_cluster::ensure_database(const std::string& role, const std::string& password,
                                      const std::string& database) {
  const auto leader = refresh();
  if (!leader) throw std::runtime_error("no Patroni leader to create the shop's database on");
  pg::settings s;
  s.application_name = "stampede-shop-setup";
  s.statement_timeout = std::chrono::milliseconds{30'000};
  pg::connection db{superuser_conninfo(members_[*leader].pg_port), s};
  db.exec("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + role +
          "') THEN CREATE ROLE " + role + " LOGIN; END IF; END $$");
  db.exec("ALTER ROLE " + role + " WITH LOGIN PASSWORD '" + password + "'");
  if (db.query("SELECT 1 FROM pg_database WHERE datname = $1", database).rows() == 0) {
    db.exec("CREATE DATABASE " + database + " OWNER " + role);
  }
}

void patroni_cluster::stop() {
  std::vector<pid_t> patronis, postmasters;
  for (auto& m : members_) {
    const pid_t pm = read_postmaster_pid(m.dir / "data", account_.uid);
    if (pm > 0) m.postmaster_pid = pm;
    if (alive(m.patroni_pid)) patronis.push_back(m.patroni_pid);
    if (m.postmaster_pid > 0) postmasters.push_back(m.postmaster_pid);
  }
  for (pid_t p : patronis) {
    ::kill(p, SIGTERM);  // Patroni stops its PostgreSQL (fast shutdown), then exits
    ::kill(p, SIGCONT);  // a member paused by a drill
  }
  // Bounded so that the whole shop stops within ~15 s; Patroni's fast shutdown takes 1-4 s here.
  if (!wait_gone(patronis, steady::now() + std::chrono::seconds{8}, postmasters)) {
    for (pid_t p : patronis) ::kill(p, SIGKILL);
    wait_gone(patronis, steady::now() + std::chrono::seconds{2}, postmasters);
  }
  postmasters.clear();
  for (auto& m : members_) {
    if (alive(m.postmaster_pid)) postmasters.push_back(m.postmaster_pid);
    m.patroni_pid = -1;
  }
  for (pid_t p : postmasters) {
    ::kill(p, SIGQUIT);  // immediate shutdown; the postmaster takes its backends with it
    ::kill(p, SIGCONT);
  }
  if (!wait_gone(postmasters, steady::now() + std::chrono::seconds{3})) {
    for (pid_t p : postmasters) ::kill(p, SIGKILL);
    wait_gone(postmasters, steady::now() + std::chrono::seconds{2});
  }
  for (auto& m : members_) m.postmaster_pid = -1;
  if (alive(etcd_pid_)) {
    ::kill(etcd_pid_, SIGTERM);
    if (!wait_gone({etcd_pid_}, steady::now() + std::chrono::seconds{3})) {
      ::kill(etcd_pid_, SIGKILL);
      wait_gone({etcd_pid_}, steady::now() + std::chrono::seconds{2});
    }
  }
  etcd_pid_ = -1;
}

pid_t patroni_cluster::start_member(patroni_member& m) {
  m.patroni_pid = spawn_as_server_user({"python3", options_.patroni_bin, (m.dir / "member.yml").string()},
                                       m.dir, m.dir / "patroni.log");
  return m.patroni_pid;
}

void patroni_cluster::restart_member(const std::string& name) {
  auto m = std::ranges::find(members_, name, &patroni_member::name);
  if (m == members_.end()) throw std::invalid_argument("no member " + name);
  const pid_t pm = read_postmaster_pid(m->dir / "data", account_.uid);
  if (pm > 0) m->postmaster_pid = pm;
  std::vector<pid_t> pids;
  for (pid_t p : {m->patroni_pid, m->postmaster_pid}) {
    if (!alive(p)) continue;
    ::kill(p, SIGKILL);
    ::kill(p, SIGCONT);
    pids.push_back(p);
  }
  // The postmaster's backends notice its death and exit on their own; a new postmaster waits for them.
  if (!wait_gone(pids, steady::now() + std::chrono::seconds{10}, pids)) {
    throw std::runtime_error(name + "'s Patroni or postmaster did not exit within 10 s of SIGKILL");
  }
  m->postmaster_pid = -1;
  start_member(*m);
}

bool patroni_cluster::owns(pid_t pid) const {
  if (pid <= 0) return false;
  if (pid == etcd_pid_) return true;
  for (const auto& m : members_) {
    if (m.patroni_pid == pid || m.postmaster_pid == pid) return true;
  }
  return false;
}

void patroni_cluster::forget(pid_t pid) {
  if (pid == etcd_pid_) etcd_pid_ = -1;
  for (auto& m : members_) {
    if (m.patroni_pid == pid) m.patroni_pid = -1;
    if (m.postmaster_pid == pid) m.postmaster_pid = -1;
  }
}

std::string patroni_cluster::superuser_conninfo(uint16_t port, const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres password=" + superuser_password_ +
         " dbname=" + database;
}

json::object patroni_cluster::topology() const {
  json::array list;
  for (const auto& m : members_) {
    list.push_back(json::object{{"name", m.name},
                                {"role", m.role},
                                {"patroni_pid", m.patroni_pid},
                                {"postmaster_pid", m.postmaster_pid},
                                {"pg_port", m.pg_port},
                                {"rest_url", m.rest_url()},
                                {"data_dir", (m.dir / "data").string()},
                                {"log", (m.dir / "patroni.log").string()}});
  }
  return json::object{
      {"members", std::move(list)},
      {"synchronous_mode", options_.synchronous},
      {"ttl", options_.ttl},
      {"loop_wait", options_.loop_wait},
      {"retry_timeout", options_.retry_timeout},
      {"scope", options_.scope},
      {"etcd", json::object{{"pid", etcd_pid_},
                            {"client_url", "http://127.0.0.1:" + std::to_string(etcd_client_port_)},
                            {"log", (options_.dir / "etcd" / "etcd.log").string()}}}};
}

std::string patroni_cluster::logs_tail() const {
  std::string out;
  for (const auto& m : members_) {
    std::error_code ec;
    const bool empty = fs::file_size(m.dir / "patroni.log", ec) == 0 || ec;
    out += "\n[" + m.name + "] " +
           (empty ? "(no output: could the postgres user not enter " + m.dir.string() + "?)"
                  : log_tail(m.dir / "patroni.log", 4));
  }
  return out;
}

}  // namespace stampede::shop
