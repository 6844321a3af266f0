// WS connections: the WsConnection instantiation over a plain TCP socket, and the factory that
// picks WS or WSS for an accepted connection.
#include "transport/websocket_session.hpp"

namespace sipwarden::transport {

std::shared_ptr<Connection> makeWsConnection(WorkerTransport& owner, const Peer& peer, tcp::socket socket) {
  return std::make_shared<WsConnection<tcp::socket>>(owner, peer, nullptr, std::move(socket));
}

std::shared_ptr<Connection> WorkerTransport::makeWebSocket(tcp::socket socket, const Peer& peer, SSL* ssl,
                                                           std::shared_ptr<const TlsContextSet> contexts) {
  if (ssl != nullptr) return makeWssConnection(*this, peer, std::move(socket), ssl, std::move(contexts));
  return makeWsConnection(*this, peer, std::move(socket));
}

}  // namespace sipwarden::transport
