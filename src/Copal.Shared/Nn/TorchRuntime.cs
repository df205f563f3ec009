using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Copal.Nn;

/// <summary>
/// Settings of the native runtime under TorchSharp that must be in place before it loads.
/// <para>
/// libtorch and MKL run their threads on OpenMP (libgomp), whose idle threads keep spinning after
/// each parallel region (GOMP_SPINCOUNT, 300000 by default). Copal's own kernels (the importance
/// GEMM, mask selection) run on .NET threads right after torch calls, and a spinning OpenMP
/// thread then holds a core they need. Unless the user chose GOMP_SPINCOUNT or OMP_WAIT_POLICY,
/// idle OpenMP threads go to sleep at once (docs/performance.md has what each side costs).
/// </para>
/// </summary>
public static partial class TorchRuntime
{
    private static int configured;

    /// <summary>
    /// Applies the settings. libgomp reads its environment when libtorch loads, at the first
    /// torch call: this runs when Copal.Shared is first used, and callers that may touch torch
    /// first call it again (it acts once).
    /// </summary>
    public static void Configure()
    {
        if (Interlocked.Exchange(ref configured, 1) == 1 || !OperatingSystem.IsLinux())
        {
            return;
        }

        if (Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") is null && Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null)
        {
            // The native environment, which libgomp reads (Environment.SetEnvironmentVariable does not reach it).
            _ = SetNativeEnvironment("GOMP_SPINCOUNT", "0", 0);
        }
    }

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "libgomp must see the setting before libtorch loads, whichever entry point uses Copal.Shared first.")]
    internal static void Initialize() => Configure();

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetNativeEnvironment(string name, string value, int overwrite);
}
