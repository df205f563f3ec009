using Xunit;

namespace Copal.Tests;

/// <summary>Tests that change process-wide state other tests would feel run alone, after the rest.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NotInParallel
{
    public const string Name = "not-in-parallel";
}
