// WSS connections: the WsConnection instantiation over FdTlsStream (OpenSSL on the descriptor).
#include "transport/websocket_session.hpp"

namespace sipwarden::transport {

std::shared_ptr<Connection> makeWssConnection(WorkerTransport& owner, const Peer& peer, tcp::socket socket, SSL* ssl,
                                              std::shared_ptr<const TlsContextSet> contexts) {
  // The stream adopts `ssl` (and frees it).
  return std::make_shared<WsConnection<TlsSocket>>(owner, peer, std::move(contexts), std::move(socket), ssl);
}

}  // namespace sipwarden::transport
