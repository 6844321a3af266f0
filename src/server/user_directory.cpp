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

auth::Ha1Ref UserDirectory::find(std::string_view user, std::string_view domain, std::string_view realm) const {
  // The key is built in a per-thread buffer: a lookup runs for every authenticated request.
  thread_local std::string k;
  k.clear();
  k.append(user).append("@").append(domain);
  std::shared_ptr<const Map> map = snapshot();
  auto it = map->find(k);
  if (it == map->end() || it->second.realm != realm) return std::nullopt;
  const auth::Ha1Set* ha1 = &it->second.ha1;
  return std::shared_ptr<const auth::Ha1Set>(std::move(map), ha1);  // shares the snapshot's ownership
}

bool UserDirectory::exists(std::string_view user, std::string_view domain) const {
  auto map = snapshot();
  return map->count(key(user, domain)) != 0;
}

std::size_t UserDirectory::size() const { return snapshot()->size(); }

}  // namespace sipwarden::server
