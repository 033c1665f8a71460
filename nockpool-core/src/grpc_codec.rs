//! The gRPC codec of the pool protocol: prost, with small starting buffers.
//!
//! Each gRPC stream keeps one encode and one decode buffer for its whole life. tonic's default
//! is 8 KiB each, i.e. 16 KiB per Subscribe stream for messages of a few hundred bytes, or
//! 160 MiB of a pool's memory at 10,000 miners. These start at [`BUFFER_BYTES`] and grow only
//! for a message that needs more.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Starting size of a stream's encode and decode buffers (a Job is about 200 bytes).
pub const BUFFER_BYTES: usize = 1024;

/// Bytes encoded before a stream yields to the runtime (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

/// [`ProstCodec`] with [`BUFFER_BYTES`] buffers; the generated client and server use it.
#[derive(Debug)]
pub struct PoolCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for PoolCodec<T, U> {
    fn default() -> Self {
        PoolCodec(PhantomData)
    }
}

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD)
}

impl<T, U> Codec for PoolCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(settings())
    }
}
