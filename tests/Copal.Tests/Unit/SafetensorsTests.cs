using System.Buffers.Binary;
using System.Security.Cryptography;
using Copal.Model;
using Xunit;
using static TorchSharp.torch;

namespace Copal.Tests;

public sealed class SafetensorsTests
{
    // Exactly representable in F16 and BF16, so every dtype must give them back unchanged.
    private static readonly float[] Exact = [1.5f, -2f, 0.25f, 3f, -0.125f, 96f, 0f, -1f, 7f, 0.5f, -48f, 2.75f];

    private static readonly Dictionary<string, string> Metadata = new() { ["format"] = "pt", ["stage"] = "2" };

    public static TheoryData<StorageType> AllTypes => [StorageType.F32, StorageType.F16, StorageType.BF16];

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void RoundTripKeepsValuesShapesDtypeAndMetadata(StorageType dtype)
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var path = dir.File(CheckpointReader.SingleFile);
        var random = randn(5, 7);
        var tensors = new List<(string Name, Tensor Value)>
        {
            ("model.embed_tokens.weight", tensor(Exact, [3, 4])),
            ("model.norm.weight", tensor(Exact[..5], [5])),
            ("lm_head.weight", random),
        };

        var sha = TestCheckpoints.WriteFile(path, tensors, dtype, Metadata);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), sha);
        using (var file = SafetensorsFile.Open(path))
        {
            Assert.Equal(Metadata.OrderBy(m => m.Key), file.Header.Metadata.OrderBy(m => m.Key));
            Assert.Equal(0, file.Header.DataStart % 8);
            Assert.Equal(tensors.Select(t => t.Name), file.Tensors.Select(e => e.Name));
            foreach (var (name, value) in tensors)
            {
                var entry = file.Entry(name);
                Assert.Equal(dtype, entry.DType);
                Assert.Equal(value.shape, entry.Shape);
                var stored = file.Read(name);
                Assert.Equal(dtype.ToScalarType(), stored.dtype);
                Assert.True(TestCheckpoints.Identical(stored, value.to_type(dtype.ToScalarType())), $"{name} changed in {dtype}");
            }

            // The bytes are those of the format, not merely a round trip: 1.5 is 3FC00000 in F32,
            // 3E00 in F16 and the top half of the F32 pattern, 3FC0, in BF16.
            using var embedding = file.Read("model.embed_tokens.weight");
            var first = embedding.bytes;
            var bits = dtype == StorageType.F32 ? BinaryPrimitives.ReadUInt32LittleEndian(first) : BinaryPrimitives.ReadUInt16LittleEndian(first);
            Assert.Equal(dtype switch { StorageType.F32 => 0x3FC00000u, StorageType.F16 => 0x3E00u, _ => 0x3FC0u }, bits);
        }

        using var reader = CheckpointReader.Open(dir.Path);
        Assert.True(TestCheckpoints.Identical(reader.Read("model.embed_tokens.weight", ScalarType.Float32), tensor(Exact, [3, 4])));
        var lmHead = reader.Read("lm_head.weight", ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, lmHead.dtype);
        Assert.True(TestCheckpoints.Identical(lmHead, random.to_type(dtype.ToScalarType()).to_type(ScalarType.Float32)));
        if (dtype == StorageType.F32)
        {
            Assert.True(TestCheckpoints.Identical(lmHead, random));
        }
        else
        {
            // Rounded, but only by the dtype's precision.
            Assert.False(TestCheckpoints.Identical(lmHead, random));
            Assert.True(lmHead.allclose(random, rtol: 1e-2, atol: 1e-2));
        }
    }

    [Fact]
    public void TheFileAppearsOnlyOnCommit()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var path = dir.File("out.safetensors");
        using (var writer = new SafetensorsWriter(path, [("a", StorageType.F32, [2, 2]), ("b", StorageType.BF16, [3])]))
        {
            writer.Write("a", ones(2, 2));
            Assert.False(File.Exists(path));
            writer.Write("b", ones(3));
            Assert.False(File.Exists(path));
            Assert.True(File.Exists(AtomicFile.TempPathFor(path)));
            writer.Commit();
            Assert.True(File.Exists(path));
        }

        Assert.Equal([path], Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void DisposeWithoutCommitLeavesNoFileAndNoTemporaryFile()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var path = dir.File("out.safetensors");
        using (var writer = new SafetensorsWriter(path, [("a", StorageType.F32, [2, 2]), ("b", StorageType.F16, [3])]))
        {
            writer.Write("a", ones(2, 2));
            Assert.Throws<InvalidOperationException>(() => writer.Commit());
        }

        using (var writer = new SafetensorsWriter(path, [("a", StorageType.F32, [2, 2])]))
        {
            writer.Write("a", ones(2, 2));
        }

        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void CommitReplacesAnOlderFileAtomically()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var path = dir.File("out.safetensors");
        File.WriteAllText(path, "stale");

        using (var writer = new SafetensorsWriter(path, [("a", StorageType.F32, [2])]))
        {
            writer.Write("a", tensor(new[] { 1f, 2f }));
            Assert.Equal("stale", File.ReadAllText(path));
            writer.Commit();
        }

        using var file = SafetensorsFile.Open(path);
        Assert.Equal([1f, 2f], file.Read("a").data<float>().ToArray());
        Assert.Equal([path], Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void TensorsMustArriveInLayoutOrderWithTheirShape()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        using var writer = new SafetensorsWriter(dir.File("x.safetensors"), [("a", StorageType.F32, [2]), ("b", StorageType.F32, [2])]);
        Assert.Throws<InvalidOperationException>(() => writer.Write("b", ones(2)));
        Assert.Throws<InvalidOperationException>(() => writer.Write("a", ones(3)));
        Assert.Throws<InvalidOperationException>(() => writer.Write("a", new byte[4]));
    }

    [Fact]
    public void ShardedCheckpointReadsBackThroughTheIndex()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var first = new List<(string Name, Tensor Value)> { ("a", randn(4, 3)), ("b", randn(6)) };
        var second = new List<(string Name, Tensor Value)> { ("c", randn(2, 2, 2)), ("d", tensor(Exact, [12])) };
        TestCheckpoints.WriteFile(dir.File("model-00001-of-00002.safetensors"), first, StorageType.F32);
        TestCheckpoints.WriteFile(dir.File("model-00002-of-00002.safetensors"), second, StorageType.BF16);
        ShardIndex.Write(
            dir.Path,
            [("a", "model-00001-of-00002.safetensors"), ("b", "model-00001-of-00002.safetensors"), ("c", "model-00002-of-00002.safetensors"), ("d", "model-00002-of-00002.safetensors")],
            (18 * 4) + (20 * 2));

        using var reader = CheckpointReader.Open(dir.Path);
        Assert.Equal(["a", "b", "c", "d"], reader.Tensors.Select(e => e.Name).Order());
        foreach (var (name, value) in first)
        {
            Assert.EndsWith("model-00001-of-00002.safetensors", reader.FileOf(name).Path);
            Assert.True(TestCheckpoints.Identical(reader.Read(name, ScalarType.Float32), value));
        }

        foreach (var (name, value) in second)
        {
            Assert.EndsWith("model-00002-of-00002.safetensors", reader.FileOf(name).Path);
            Assert.Equal(StorageType.BF16, reader.Entry(name).DType);
            Assert.True(TestCheckpoints.Identical(reader.Read(name, ScalarType.Float32), value.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32)));
        }

        var missing = Assert.Throws<CopalInputException>(() => reader.Read("e", ScalarType.Float32));
        Assert.Contains("'e'", missing.Message);
    }

    [Fact]
    public void IndexListingATensorItsShardLacksIsRejected()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        TestCheckpoints.WriteFile(dir.File("s1.safetensors"), [("a", ones(2))], StorageType.F32);
        TestCheckpoints.WriteFile(dir.File("s2.safetensors"), [("b", ones(2))], StorageType.F32);
        ShardIndex.Write(dir.Path, [("a", "s1.safetensors"), ("b", "s2.safetensors"), ("ghost", "s2.safetensors")], 16);

        var error = Assert.Throws<CopalInputException>(() => CheckpointReader.Open(dir.Path));
        Assert.Contains(dir.File("s2.safetensors"), error.Message);
        Assert.Contains("'ghost'", error.Message);
    }

    [Fact]
    public void IndexNamingAMissingShardIsRejected()
    {
        using var dir = new TempDir();
        ShardIndex.Write(dir.Path, [("a", "absent.safetensors")], 8);

        var error = Assert.Throws<CopalInputException>(() => CheckpointReader.Open(dir.Path));
        Assert.Contains(dir.File("absent.safetensors"), error.Message);
    }

    [Fact]
    public void DirectoryWithoutWeightsIsRejected()
    {
        using var dir = new TempDir();
        var error = Assert.Throws<CopalInputException>(() => CheckpointReader.Open(dir.Path));
        Assert.Contains(dir.Path, error.Message);
        Assert.Contains(CheckpointReader.SingleFile, error.Message);
    }

    // Each case is a file crafted byte by byte, the tensor the message must name (or null) and a
    // word that says what is wrong.
    public static TheoryData<string, string?, string> BrokenFiles => new()
    {
        { "truncated", "b", "truncated" },
        { "header-length-2^60", null, "header length" },
        { "header-length-max", null, "header length" },
        { "header-longer-than-file", null, "header length" },
        { "shorter-than-prefix", null, "too short" },
        { "header-not-json", null, "JSON" },
        { "header-not-object", null, "object" },
        { "dtype-I8", "w", "I8" },
        { "dtype-F64", "w", "F64" },
        { "shape-times-dtype-mismatch", "w", "[2, 3]" },
        { "offsets-past-end", "w", "ends at byte 400" },
        { "offsets-reversed", "w", "data_offsets" },
        { "offsets-negative", "w", "data_offsets" },
        { "negative-dim", "w", "shape" },
        { "missing-offsets", "w", "data_offsets" },
        { "overlap", "second", "overlap" },
    };

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void BrokenFileIsRejectedNamingFileAndTensor(string broken, string? tensorName, string problem)
    {
        using var dir = new TempDir();
        var path = dir.File(broken + ".safetensors");
        File.WriteAllBytes(path, Craft(broken));

        var error = Assert.Throws<CopalInputException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.StartsWith(path + ": ", error.Message);
        Assert.Contains(problem, error.Message);
        if (tensorName != null)
        {
            Assert.Contains($"'{tensorName}'", error.Message);
        }

        // A checkpoint directory reports the same problem through its reader.
        File.Move(path, dir.File(CheckpointReader.SingleFile));
        var viaReader = Assert.Throws<CopalInputException>(() => CheckpointReader.Open(dir.Path).Dispose());
        Assert.Contains(dir.File(CheckpointReader.SingleFile), viaReader.Message);
        Assert.Contains(problem, viaReader.Message);
    }

    [Fact]
    public void ShapeWhoseByteCountOverflowsIsRejected()
    {
        // 2^62 x 4 elements x 4 bytes wraps to 0 in 64 bits, which would match empty offsets.
        using var dir = new TempDir();
        var path = dir.File("overflow.safetensors");
        File.WriteAllBytes(path, TestCheckpoints.Raw("""{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}""", []));

        var error = Assert.Throws<CopalInputException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, error.Message);
        Assert.Contains("'w'", error.Message);
    }

    [Fact]
    public void MetadataThatIsNotAnObjectIsRejected()
    {
        using var dir = new TempDir();
        var path = dir.File("metadata.safetensors");
        File.WriteAllBytes(path, TestCheckpoints.Raw("""{"__metadata__":"pt","w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]));

        var error = Assert.Throws<CopalInputException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, error.Message);
        Assert.Contains("__metadata__", error.Message);
    }

    [Fact]
    public void DuplicateTensorNameIsRejected()
    {
        using var dir = new TempDir();
        var path = dir.File("duplicate.safetensors");
        File.WriteAllBytes(path, TestCheckpoints.Raw("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", new byte[8]));

        var error = Assert.Throws<CopalInputException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, error.Message);
        Assert.Contains("'w'", error.Message);
    }

    [Fact]
    public void CraftedValidFileReadsBack()
    {
        // The same byte-level builder gives a readable file when nothing is wrong, so the broken
        // cases above fail for their defect alone.
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var path = dir.File("ok.safetensors");
        File.WriteAllBytes(path, Craft("valid"));

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["a", "b"], file.Tensors.Select(t => t.Name));
        Assert.Equal([1f, 2f, 3f, 4f], file.Read("a").data<float>().ToArray());
        Assert.Equal([5f, 6f], file.Read("b").data<float>().ToArray());
    }

    private static byte[] Craft(string broken)
    {
        var valid = """{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}""";
        var data = new[] { 1f, 2f, 3f, 4f, 5f, 6f }.SelectMany(BitConverter.GetBytes).ToArray();
        static string One(string dtype, string shape, string offsets) =>
            $$$"""{"w":{"dtype":"{{{dtype}}}","shape":{{{shape}}},"data_offsets":{{{offsets}}}}}""";

        return broken switch
        {
            "valid" => TestCheckpoints.Raw(valid, data),
            "truncated" => TestCheckpoints.Raw(valid, data[..20]),
            "header-length-2^60" => TestCheckpoints.Raw(valid, data, 1UL << 60),
            "header-length-max" => TestCheckpoints.Raw(valid, data, ulong.MaxValue),
            "header-longer-than-file" => TestCheckpoints.Raw(valid, data, (ulong)(valid.Length + data.Length + 1)),
            "shorter-than-prefix" => [1, 0, 0],
            "header-not-json" => TestCheckpoints.Raw("""{"a":{"dtype":"F32",""", data),
            "header-not-object" => TestCheckpoints.Raw("[1, 2]", data),
            "dtype-I8" => TestCheckpoints.Raw(One("I8", "[4]", "[0,4]"), data),
            "dtype-F64" => TestCheckpoints.Raw(One("F64", "[3]", "[0,24]"), data),
            "shape-times-dtype-mismatch" => TestCheckpoints.Raw(One("F32", "[2,3]", "[0,16]"), data),
            "offsets-past-end" => TestCheckpoints.Raw(One("F32", "[100]", "[0,400]"), data),
            "offsets-reversed" => TestCheckpoints.Raw(One("F32", "[2]", "[16,8]"), data),
            "offsets-negative" => TestCheckpoints.Raw(One("F32", "[2]", "[-8,0]"), data),
            "negative-dim" => TestCheckpoints.Raw(One("F32", "[-2]", "[0,8]"), data),
            "missing-offsets" => TestCheckpoints.Raw("""{"w":{"dtype":"F32","shape":[2]}}""", data),
            "overlap" => TestCheckpoints.Raw("""{"first":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"second":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", data),
            _ => throw new ArgumentException(broken),
        };
    }
}
