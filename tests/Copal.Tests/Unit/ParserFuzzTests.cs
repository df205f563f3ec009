using Copal.Fuzz;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Copal.Tests;

/// <summary>
/// Every parser of outside bytes, fed the corpus AFL++ found (bench/fuzz.sh) and FsCheck's mutations
/// of valid inputs: only its typed input error comes out, within a second and an allocation the
/// input's size justifies (<see cref="ParserTarget.Run"/> throws otherwise).
/// </summary>
[Collection(NotInParallel.Name)] // The allocation is counted process-wide: other tests must not run meanwhile.
public sealed class ParserFuzzTests : IDisposable
{
    private const int Mutations = 200;

    private readonly TempDir scratch = new();

    public static TheoryData<string> Targets() => new(ParserTargets.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Targets))]
    public void TheFuzzCorpusGetsOnlyTypedErrors(string name)
    {
        var target = Accepted(name);
        var corpus = Directory.GetFiles(Path.Combine(RepoPaths.Root, "tests", "assets", "fuzz", name));
        Assert.NotEmpty(corpus);
        foreach (var file in corpus)
        {
            target.Run(File.ReadAllBytes(file), scratch.Path);
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void MutatedSeedsGetOnlyTypedErrors(string name)
    {
        var target = Accepted(name);
        var refused = 0;
        Prop.ForAll(ByteMutations.Of([.. target.Seeds()]), input =>
        {
            if (target.Run(input, scratch.Path) is not null)
            {
                refused++;
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(Mutations).WithQuietOnSuccess(true));

        // The mutations reach the checks: the typed error does come out (the manifest reader reports, never throws).
        Assert.True(target.TypedErrors.Length == 0 || refused > 0, $"{name}: none of {Mutations} mutations was refused");
    }

    public void Dispose() => scratch.Dispose();

    // The seeds pass, which also compiles the parser before any input is timed.
    private ParserTarget Accepted(string name)
    {
        var target = ParserTargets.Named(name);
        foreach (var seed in target.Seeds())
        {
            Assert.Null(target.Run(seed, scratch.Path));
        }

        return target;
    }
}
