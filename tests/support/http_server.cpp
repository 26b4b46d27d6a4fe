#include "http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace trackbench::testing {

local_http_server::local_http_server() {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener_ < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(listener_);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { loop(); });
}

local_http_server::~local_http_server() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

void local_http_server::serve(const std::string& path, std::string body) {
  std::lock_guard<std::mutex> lock(mutex_);
  files_[path] = std::move(body);
}

void local_http_server::answer_every_request(std::string status, std::string body) {
  std::lock_guard<std::mutex> lock(mutex_);
  fixed_status_ = std::move(status);
  fixed_body_ = std::move(body);
}

std::string local_http_server::url(const std::string& prefix) const {
  return "http://127.0.0.1:" + std::to_string(port_) + prefix;
}

void local_http_server::loop() {
  while (!stopping_) {
    pollfd waiting{listener_, POLLIN, 0};
    if (::poll(&waiting, 1, 50) <= 0) continue;
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) continue;
    answer(client);
    ::close(client);
  }
}

void local_http_server::answer(int client) {
  std::string request;
  char buffer[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    pollfd readable{client, POLLIN, 0};
    if (::poll(&readable, 1, 2000) <= 0) return;
    const ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
    if (got <= 0) return;
    request.append(buffer, static_cast<std::size_t>(got));
  }
  ++requests_;
  const auto first_space = request.find(' ');
  const auto second_space = request.find(' ', first_space + 1);
  const std::string path = request.substr(first_space + 1, second_space - first_space - 1);
  std::string status = "404 Not Found";
  std::string body = "not found\n";
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!fixed_status_.empty()) {
      status = fixed_status_;
      body = fixed_body_;
    } else if (const auto found = files_.find(path); request.rfind("GET ", 0) == 0 && found != files_.end()) {
      status = "200 OK";
      body = found->second;
    }
  }
  const std::string response = "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t wrote = ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (wrote <= 0) return;
    sent += static_cast<std::size_t>(wrote);
  }
}

}  // namespace trackbench::testing
