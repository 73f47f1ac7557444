//! A stream of the changes a node applies to keys of one prefix ([`Watch::start`]).

use crate::client::Client;
use crate::error::ClientError;
use kvs_proto::{Change, ClientResponse};

/// A connection given over to a watch: each [`Watch::next`] is the next change the node applied.
pub struct Watch {
    client: Client,
}

impl Watch {
    /// Gives `client`'s connection over to a watch of every change its node applies to keys
    /// beginning with `prefix` from now on, wherever they were written (protocol 9).
    pub async fn start(mut client: Client, prefix: impl Into<bytes::Bytes>) -> Result<Watch, ClientError> {
        client.expect_ok(&kvs_proto::ClientRequest::Watch { prefix: prefix.into() }).await?;
        Ok(Watch { client })
    }

    /// The next change; waits as long as it takes. `Ok(None)` when the node closed the stream
    /// (it shut down); `Err(Server)` with code `FellBehind` when the watch fell further behind
    /// than the node buffers (changes were missed: watch again).
    pub async fn next(&mut self) -> Result<Option<Change>, ClientError> {
        match self.client.receive().await? {
            None => Ok(None),
            Some(ClientResponse::Changed(change)) => Ok(Some(change)),
            Some(ClientResponse::Error(reply)) => Err(ClientError::Server(reply)),
            Some(other) => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The same as a `futures` stream, ending after the first error or the node's close.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<Change, ClientError>> {
        futures::stream::unfold(Some(self), |watch| async move {
            let mut watch = watch?;
            match watch.next().await {
                Ok(Some(change)) => Some((Ok(change), Some(watch))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
    }
}
