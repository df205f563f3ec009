using System.Net;
using System.Net.Sockets;

namespace Copal.Tests;

/// <summary>Loopback ports for processes a test starts.</summary>
public static class TestPorts
{
    /// <summary>A port that was free a moment ago (the OS hands out a fresh one each time).</summary>
    public static int Free()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
