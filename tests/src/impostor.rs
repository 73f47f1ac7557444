//! An outsider on the network: it says hello to a node as if it were a peer and then sends
//! whatever it likes, to show what the node does with messages it did not ask for.

use kvs_proto::peer::KeyedEntry;
use kvs_proto::{Connection, ErrorReply, Hello, HelloReply, MemberInfo, NodeId, PeerMessage, Role};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;

/// An open peer connection that no member made.
pub struct Impostor {
    conn: Connection<TcpStream>,
    /// The id it claimed, also the origin it claimed to write under.
    pub id: NodeId,
}

/// The wall clock in ms, as nodes stamp versions.
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as u64
}

impl Impostor {
    /// Says hello to `node` as a peer named `id` living at an address nobody listens on; returns
    /// `None` if the node refuses the hello.
    pub async fn connect(node: SocketAddr, id: u64) -> Option<Impostor> {
        Self::connect_at(node, id, kvs_proto::PROTOCOL_VERSION).await.ok()
    }

    /// [`Impostor::connect`] with a hello of protocol `version`; the refusal if the node refuses
    /// it with one (`None`: it refused otherwise, or closed).
    pub async fn connect_at(node: SocketAddr, id: u64, version: u32) -> Result<Impostor, Option<ErrorReply>> {
        let stream = TcpStream::connect(node).await.map_err(|_| None)?;
        let mut conn = Connection::new(stream, 64 << 20);
        let id = NodeId(id);
        let member =
            MemberInfo { id, addr: ([127, 0, 0, 1], 1).into(), generation: wall_ms(), heartbeat: 0, left: false };
        let role = Role::Peer { member, origin: id, nonce: [7; 32], dialed: node };
        conn.send(&Hello::at(version, role)).await.map_err(|_| None)?;
        match conn.recv::<HelloReply>().await {
            Ok(Some(HelloReply::Welcome { .. })) => Ok(Impostor { conn, id }),
            Ok(Some(HelloReply::Rejected(reply))) => Err(Some(reply)),
            _ => Err(None),
        }
    }

    /// Sends one peer message; false once the node has closed the connection.
    pub async fn send(&mut self, message: &PeerMessage<KeyedEntry>) -> bool {
        self.conn.send(message).await.is_ok()
    }
}
