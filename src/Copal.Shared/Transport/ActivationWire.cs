using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Copal.Transport;

/// <summary>
/// Encodes and decodes <see cref="ActivationFrame"/>s on a stream. All integers little-endian:
/// <code>
///  0  4  magic "CPAL"
///  4  2  version (u16, currently 2)
///  6  1  kind (u8, FrameKind)
///  7  8  run epoch (i64)
/// 15  4  stage (i32)
/// 19  8  sequence (i64)
/// 27  8  first sample (i64)
/// 35  4  tag length in bytes (i32, 0..65535), then the tag as UTF-8
///     1  tensor count (u8, 0..2: payload, then targets)
///        per tensor: dtype (u8: 1 f32, 2 bf16, 3 f16, 4 i64), rank (u8, 0..16),
///                    rank x dim (i64), byte length (i64, = elements x element size)
///        then the raw bytes of each tensor in order, no padding
///     8  checksum (u64): XxHash3 of every byte of the frame before it
/// </code>
/// Tensor bytes go straight between the tensor's memory and the stream in 1 MiB chunks, and are
/// hashed in the same pass. A frame whose checksum does not match is rejected, never used
/// (<see cref="FrameChecksumException"/>).
/// </summary>
public static class ActivationWire
{
    public const ushort Version = 2;
    public const int MaxTagBytes = ushort.MaxValue;
    public const int MaxRank = 16;
    public const int ChunkBytes = 1 << 20;

    /// <summary>The largest tensor a frame can carry (a tensor's bytes are addressed as one span).</summary>
    public const long MaxTensorBytes = int.MaxValue;

    private const int FixedHeaderBytes = 39;
    private const int ChecksumBytes = 8;
    private static ReadOnlySpan<byte> Magic => "CPAL"u8;

    /// <summary>Throws unless the tensor can travel in a frame.</summary>
    public static void CheckTensor(Tensor tensor, string name)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        DTypeCode(tensor.dtype, name);
        if (tensor.device_type != DeviceType.CPU)
        {
            throw new ArgumentException($"{name}: frame tensors must be on the CPU, got {tensor.device}", name);
        }

        if (!tensor.is_contiguous())
        {
            throw new ArgumentException($"{name}: frame tensors must be contiguous (call .contiguous() first)", name);
        }

        if (tensor.Dimensions > MaxRank)
        {
            throw new ArgumentException($"{name}: rank {tensor.Dimensions} exceeds {MaxRank}", name);
        }

        var bytes = tensor.NumberOfElements * tensor.ElementSize;
        if (bytes > MaxTensorBytes)
        {
            throw new NotSupportedException(
                $"{name}: tensor {tensor.dtype}[{string.Join(", ", tensor.shape)}] is {bytes} bytes; a frame tensor is limited to {MaxTensorBytes} bytes (2 GiB) - split it across frames");
        }
    }

    /// <summary>Writes one frame. The frame's tensors are only read.</summary>
    public static Task WriteAsync(Stream stream, ActivationFrame frame, CancellationToken cancellationToken = default) =>
        WriteAsync(stream, frame, flipBit: null, cancellationToken);

    /// <param name="flipBit">Fault injection (<see cref="PayloadBitFlip"/>): this bit of the tensor bytes goes out flipped, after hashing.</param>
    internal static async Task WriteAsync(Stream stream, ActivationFrame frame, long? flipBit, CancellationToken cancellationToken)
    {
        var checksum = new XxHash3();
        var header = EncodeHeader(frame);
        checksum.Append(header);
        await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        long sent = 0;
        foreach (var tensor in Tensors(frame))
        {
            var memory = NativeBytes.Of(tensor);
            for (var offset = 0; offset < memory.Length; offset += ChunkBytes)
            {
                var chunk = memory.Slice(offset, Math.Min(ChunkBytes, memory.Length - offset));
                checksum.Append(chunk.Span);
                var bit = flipBit - (sent * 8);
                await stream.WriteAsync(bit >= 0 && bit < chunk.Length * 8L ? Flipped(chunk, bit.Value) : chunk, cancellationToken).ConfigureAwait(false);
                sent += chunk.Length;
            }

            GC.KeepAlive(tensor);
        }

        var trailer = new byte[ChecksumBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, checksum.GetCurrentHashAsUInt64());
        await stream.WriteAsync(trailer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A copy of the chunk with one bit flipped: the tensor itself must not change.</summary>
    private static byte[] Flipped(ReadOnlyMemory<byte> chunk, long bit)
    {
        var copy = chunk.ToArray();
        copy[bit / 8] ^= (byte)(1 << (int)(bit % 8));
        return copy;
    }

    /// <summary>
    /// Reads one frame into freshly allocated tensors (owned by the caller). Returns null when the
    /// stream ends cleanly before the first byte of a frame. Throws <see cref="InvalidDataException"/>
    /// on bytes that are not a valid frame, <see cref="FrameChecksumException"/> on a frame whose
    /// bytes do not match its checksum and <see cref="EndOfStreamException"/> when it ends mid-frame.
    /// </summary>
    public static async Task<ActivationFrame?> ReadAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        var header = new byte[FixedHeaderBytes];
        var got = await stream.ReadAtLeastAsync(header.AsMemory(0, Magic.Length), Magic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got == 0)
        {
            return null;
        }

        if (got < Magic.Length || !header.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new InvalidDataException(
                $"not an activation frame: expected magic 'CPAL', got {Convert.ToHexString(header, 0, got)} ('{Printable(header.AsSpan(0, got))}')");
        }

        await ReadExactly(stream, header.AsMemory(Magic.Length), cancellationToken).ConfigureAwait(false);
        var version = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(4));
        if (version != Version)
        {
            throw new InvalidDataException($"activation frame has wire version {version}; this build speaks version {Version}");
        }

        var kind = (FrameKind)header[6];
        if (!Enum.IsDefined(kind))
        {
            throw new InvalidDataException($"activation frame has unknown kind {header[6]}");
        }

        var checksum = new XxHash3();
        checksum.Append(header);
        var runEpoch = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(7));
        var stage = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(15));
        var sequence = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(19));
        var firstSample = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(27));
        var tagLength = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(35));
        if (tagLength is < 0 or > MaxTagBytes)
        {
            throw new InvalidDataException($"activation frame has tag length {tagLength}, outside 0..{MaxTagBytes}");
        }

        // The tag and the tensor count.
        var tagAndCount = new byte[tagLength + 1];
        await ReadExactly(stream, tagAndCount, cancellationToken).ConfigureAwait(false);
        checksum.Append(tagAndCount);
        string tag;
        try
        {
            tag = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(tagAndCount, 0, tagLength);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException("activation frame tag is not valid UTF-8", e);
        }

        int count = tagAndCount[tagLength];
        if (count > 2)
        {
            throw new InvalidDataException($"activation frame has {count} tensors; at most 2 are allowed");
        }

        var descriptors = new (ScalarType DType, long[] Shape, long Bytes)[count];
        var small = new byte[MaxRank * 8 + 8];
        for (var i = 0; i < count; i++)
        {
            await ReadExactly(stream, small.AsMemory(0, 2), cancellationToken).ConfigureAwait(false);
            checksum.Append(small.AsSpan(0, 2));
            var dtype = ScalarTypeOf(small[0]);
            int rank = small[1];
            if (rank > MaxRank)
            {
                throw new InvalidDataException($"activation frame tensor {i} has rank {rank}; at most {MaxRank} is allowed");
            }

            await ReadExactly(stream, small.AsMemory(0, rank * 8 + 8), cancellationToken).ConfigureAwait(false);
            checksum.Append(small.AsSpan(0, rank * 8 + 8));
            var shape = new long[rank];
            long elements = 1;

            // The product of the non-zero dimensions is bounded too: with one dimension 0 the others
            // still make torch's strides, which must not overflow.
            long strides = 1;
            for (var d = 0; d < rank; d++)
            {
                shape[d] = BinaryPrimitives.ReadInt64LittleEndian(small.AsSpan(d * 8));
                if (shape[d] < 0 || (shape[d] > 0 && strides > MaxTensorBytes / shape[d]))
                {
                    throw new InvalidDataException($"activation frame tensor {i} has an invalid shape [{string.Join(", ", shape[..(d + 1)])}]");
                }

                strides *= Math.Max(shape[d], 1);
                elements *= shape[d];
            }

            var byteLength = BinaryPrimitives.ReadInt64LittleEndian(small.AsSpan(rank * 8));
            var expected = elements * ElementBytes(dtype);
            if (byteLength != expected || expected > MaxTensorBytes)
            {
                throw new InvalidDataException(
                    $"activation frame tensor {i} {dtype}[{string.Join(", ", shape)}] declares {byteLength} bytes; expected {expected} (limit {MaxTensorBytes})");
            }

            descriptors[i] = (dtype, shape, byteLength);
        }

        var tensors = new Tensor?[2];
        try
        {
            for (var i = 0; i < count; i++)
            {
                var tensor = empty(descriptors[i].Shape, descriptors[i].DType);
                tensors[i] = tensor;
                var memory = NativeBytes.Of(tensor);
                for (var offset = 0; offset < memory.Length; offset += ChunkBytes)
                {
                    var chunk = memory.Slice(offset, Math.Min(ChunkBytes, memory.Length - offset));
                    await ReadExactly(stream, chunk, cancellationToken).ConfigureAwait(false);
                    checksum.Append(chunk.Span);
                }

                GC.KeepAlive(tensor);
            }

            await ReadExactly(stream, small.AsMemory(0, ChecksumBytes), cancellationToken).ConfigureAwait(false);
            var sent = BinaryPrimitives.ReadUInt64LittleEndian(small);
            var received = checksum.GetCurrentHashAsUInt64();
            if (sent != received)
            {
                throw new FrameChecksumException(
                    $"{kind} frame {sequence} (epoch {runEpoch}, stage {stage}) is corrupted: its bytes hash to {received:x16}, the sender's checksum is {sent:x16}; the frame is dropped",
                    runEpoch);
            }

            return new ActivationFrame(runEpoch, stage, kind, sequence, firstSample, tag, tensors[0], tensors[1]);
        }
        catch
        {
            tensors[0]?.Dispose();
            tensors[1]?.Dispose();
            throw;
        }
    }

    private static byte[] EncodeHeader(ActivationFrame frame)
    {
        var tagLength = Encoding.UTF8.GetByteCount(frame.Tag);
        if (tagLength > MaxTagBytes)
        {
            throw new ArgumentException($"frame tag is {tagLength} UTF-8 bytes; at most {MaxTagBytes} are allowed");
        }

        var tensors = Tensors(frame);
        var size = FixedHeaderBytes + tagLength + 1;
        foreach (var t in tensors)
        {
            size += 2 + ((int)t.Dimensions * 8) + 8;
        }

        var buffer = new byte[size];
        var span = buffer.AsSpan();
        Magic.CopyTo(span);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], Version);
        span[6] = (byte)frame.Kind;
        BinaryPrimitives.WriteInt64LittleEndian(span[7..], frame.RunEpoch);
        BinaryPrimitives.WriteInt32LittleEndian(span[15..], frame.Stage);
        BinaryPrimitives.WriteInt64LittleEndian(span[19..], frame.Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(span[27..], frame.FirstSample);
        BinaryPrimitives.WriteInt32LittleEndian(span[35..], tagLength);
        Encoding.UTF8.GetBytes(frame.Tag, span.Slice(FixedHeaderBytes, tagLength));
        var at = FixedHeaderBytes + tagLength;
        span[at++] = (byte)tensors.Count;
        foreach (var t in tensors)
        {
            span[at++] = DTypeCode(t.dtype, "tensor");
            span[at++] = (byte)t.Dimensions;
            foreach (var dim in t.shape)
            {
                BinaryPrimitives.WriteInt64LittleEndian(span[at..], dim);
                at += 8;
            }

            BinaryPrimitives.WriteInt64LittleEndian(span[at..], t.NumberOfElements * t.ElementSize);
            at += 8;
        }

        return buffer;
    }

    private static List<Tensor> Tensors(ActivationFrame frame)
    {
        var list = new List<Tensor>(2);
        if (frame.Payload is not null)
        {
            list.Add(frame.Payload);
        }

        if (frame.Targets is not null)
        {
            list.Add(frame.Targets);
        }

        return list;
    }

    private static async ValueTask ReadExactly(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException e)
        {
            throw new EndOfStreamException("the connection ended in the middle of an activation frame", e);
        }
    }

    private static byte DTypeCode(ScalarType dtype, string name) => dtype switch
    {
        ScalarType.Float32 => 1,
        ScalarType.BFloat16 => 2,
        ScalarType.Float16 => 3,
        ScalarType.Int64 => 4,
        _ => throw new ArgumentException($"{name}: dtype {dtype} cannot travel in a frame (Float32, BFloat16, Float16, Int64 can)", name),
    };

    private static ScalarType ScalarTypeOf(byte code) => code switch
    {
        1 => ScalarType.Float32,
        2 => ScalarType.BFloat16,
        3 => ScalarType.Float16,
        4 => ScalarType.Int64,
        _ => throw new InvalidDataException($"activation frame has unknown dtype code {code}"),
    };

    private static int ElementBytes(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => 4,
        ScalarType.Int64 => 8,
        _ => 2,
    };

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = bytes[i] is >= 0x20 and < 0x7f ? (char)bytes[i] : '.';
        }

        return new string(chars);
    }

    /// <summary>
    /// A <see cref="Memory{T}"/> over a CPU tensor's native storage, so async socket IO can read
    /// and write it in place. Native memory does not move; the tensor must stay alive while used.
    /// </summary>
    private sealed unsafe class NativeBytes : MemoryManager<byte>
    {
        private readonly byte* pointer;
        private readonly int length;

        private NativeBytes(byte* pointer, int length)
        {
            this.pointer = pointer;
            this.length = length;
        }

        public static Memory<byte> Of(Tensor tensor)
        {
            var bytes = tensor.NumberOfElements * tensor.ElementSize;
            if (bytes == 0)
            {
                return Memory<byte>.Empty;
            }

            if (bytes > MaxTensorBytes)
            {
                throw new NotSupportedException($"tensor of {bytes} bytes exceeds the {MaxTensorBytes}-byte frame tensor limit");
            }

            var span = tensor.bytes;
            var p = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));
            return new NativeBytes(p, span.Length).Memory;
        }

        public override Span<byte> GetSpan() => new(pointer, length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
