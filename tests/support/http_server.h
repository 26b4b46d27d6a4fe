#pragma once
// A minimal HTTP/1.1 file server on 127.0.0.1 for download tests: GET of a
// known path answers 200 with its bytes, anything else 404; or, after
// answer_every_request, one fixed answer to everything (a server in trouble).
// One thread, one connection at a time, closed after each response.
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace trackbench::testing {

class local_http_server {
 public:
  local_http_server();  // binds an ephemeral port on 127.0.0.1
  ~local_http_server();
  local_http_server(const local_http_server&) = delete;
  local_http_server& operator=(const local_http_server&) = delete;

  void serve(const std::string& path, std::string body);  // path like "/a/b.gz"
  void answer_every_request(std::string status, std::string body);  // status like "500 Internal Server Error"
  std::string url(const std::string& prefix = "/") const;  // http://127.0.0.1:PORT<prefix>
  int requests() const { return requests_.load(); }

 private:
  void loop();
  void answer(int client);

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mutex_;
  std::map<std::string, std::string> files_;
  std::string fixed_status_;  // empty: serve files
  std::string fixed_body_;
  std::thread thread_;
};

}  // namespace trackbench::testing
