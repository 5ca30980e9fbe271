#include "drill/shop_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/json.hpp>

namespace stampede::drill {

namespace json = boost::json;

uint16_t port_of(const std::string& url) {
  const size_t colon = url.rfind(':');
  if (colon == std::string::npos) return 0;
  const int port = std::atoi(url.c_str() + colon + 1);
  return port > 0 && port <= 65535 ? static_cast<uint16_t>(port) : 0;
}

shop_process::shop_process(const std::string& program, std::vector<std::string> args,
                           const std::filesystem::path& dir, std::chrono::seconds timeout)
    : log_path_(dir / "shop.log"), topology_path_(dir / "topology.json") {
  std::filesystem::remove(topology_path_);
  args.insert(args.begin(), {program, "shop"});
  args.push_back("--topology");
  args.push_back(topology_path_.string());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot write " + log_path_.string() + ": " + std::strerror(errno));
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log_fd);
    throw std::runtime_error("fork: " + std::string{std::strerror(errno)});
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the shop stops its own children on SIGTERM
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(program.c_str(), argv.data());
    std::fprintf(stderr, "cannot exec %s: %s\n", program.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(log_fd);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the shop exited at start:\n" + log_tail());
    }
    std::error_code ec;
    if (std::filesystem::file_size(topology_path_, ec) > 0 && !ec) {
      std::ifstream in(topology_path_);
      std::stringstream text;
      text << in.rdbuf();
      json::error_code jec;
      topology_ = json::parse(text.str(), jec);
      if (!jec && topology_.is_object()) break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error("the shop did not become ready in " + std::to_string(timeout.count()) + " s:\n" +
                               log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});  // polling a file the shop renames into place
  }
}

shop_process::~shop_process() { stop(); }

std::string shop_process::stop() {
  if (pid_ <= 0) return "not running";
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  int status = 0;
  while (true) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return "killed after 20 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  pid_ = -1;
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  return "ended by signal " + std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string shop_process::log_tail() const {
  std::ifstream in(log_path_);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  std::string out;
  for (size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i) out += "  " + lines[i] + "\n";
  return out;
}

json::value shop_process::current_topology() const {
  std::ifstream in(topology_path_);
  std::stringstream text;
  text << in.rdbuf();
  json::error_code ec;
  json::value v = json::parse(text.str(), ec);
  return ec || !v.is_object() ? topology_ : v;
}

std::string shop_process::entry_url() const { return std::string(topology_.at("entry_url").as_string()); }
std::string shop_process::admin_token() const { return std::string(topology_.at("admin_token").as_string()); }
std::string shop_process::payment_url() const {
  return std::string(topology_.at("payment_emulator").at("url").as_string());
}

}  // namespace stampede::drill
