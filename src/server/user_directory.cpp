#include "server/user_directory.hpp"

namespace sipwarden::server {

namespace {
std::string key(std::string_view user, std::string_view domain) {
  std::string k;
  k.reserve(user.size() + domain.size() + 1);
  k.append(user).append("@").append(domain);
  return k;
}
}  // namespace

std::size_t UserDirectory::reload() {
  auto fresh = std::make_shared<Map>();
  for (storage::UserRecord& u : store_.listUsers()) {
    Entry e;
    e.realm = u.realm;
    e.ha1.md5 = std::move(u.ha1Md5);
    e.ha1.sha256 = std::move(u.ha1Sha256);
    e.ha1.sha512_256 = std::move(u.ha1Sha512_256);
    fresh->emplace(key(u.user, u.domain), std::move(e));
  }
  std::size_t n = fresh->size();
  std::lock_guard lock(mutex_);
  users_ = std::move(fresh);
  return n;
}

std::shared_ptr<const UserDirectory::Map> UserDirectory::snapshot() const {
  std::lock_guard lock(mutex_);
  return users_;
}

std::optional<auth::Ha1Set> UserDirectory::find(std::string_view user, std::string_view domain,
                                                std::string_view realm) const {
  auto map = snapshot();
  auto it = map->find(key(user, domain));
  if (it == map->end() || it->second.realm != realm) return std::nullopt;
  return it->second.ha1;
}

bool UserDirectory::exists(std::string_view user, std::string_view domain) const {
  auto map = snapshot();
  return map->count(key(user, domain)) != 0;
}

std::size_t UserDirectory::size() const { return snapshot()->size(); }

}  // namespace sipwarden::server
