namespace Copal.Planning;

/// <summary>
/// Splits the decoder layers into contiguous ranges over the pipeline's nodes, in node order:
/// every node gets at least one layer, every node's memory fits, and among the fitting splits the
/// busiest node's FLOPs are as small as possible. Exact and deterministic (dynamic programming).
/// </summary>
public static class LayerPlanner
{
    private const long Infeasible = long.MaxValue;

    /// <summary>The balanced plan, or a CopalInputException saying why none fits.</summary>
    public static Plan Plan(PlanRequest request, IReadOnlyList<NodeCapacity> nodes)
    {
        request.Validate();
        var layers = request.Config.NumHiddenLayers;
        if (nodes.Count == 0)
        {
            throw new CopalInputException("a plan needs at least one node");
        }

        if (nodes.Count > layers)
        {
            throw new CopalInputException($"{nodes.Count} nodes but {request.ModelName} has only {layers} layers; every node needs at least one layer");
        }

        var duplicate = nodes.GroupBy(n => n.NodeId).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
        {
            throw new CopalInputException($"node id '{duplicate.Key}' is given twice");
        }

        try
        {
            return Solve(request, nodes);
        }
        catch (OverflowException)
        {
            throw new CopalInputException($"the request is too large to plan (sizes overflow 64-bit counts): {request.Samples} samples of {request.SeqLen} tokens");
        }
    }

    private static Plan Solve(PlanRequest request, IReadOnlyList<NodeCapacity> nodes)
    {
        var c = request.Config;
        var n = c.NumHiddenLayers;
        var k = nodes.Count;
        var weight = CostModel.LayerHeldWeightBytes(request);
        var state = CostModel.LayerMethodStateBytes(c, request.Method);
        var layerBytes = checked(weight + state);
        var layerFlops = CostModel.LayerFlopsPerStage(request);
        var buffers = CostModel.NodeBufferBytes(request);

        // What every node holds whatever its layers: its buffers and its process's runtime.
        var perNode = checked(buffers + CostModel.RuntimeBytes);
        var head = CostModel.HeadBytes(request);

        // Every layer of a LLaMA costs the same, but the search works on per-layer prefix sums so
        // that it stays exact should layers ever differ.
        var memory = new long[n + 1];
        var flops = new long[n + 1];
        for (var i = 0; i < n; i++)
        {
            memory[i + 1] = checked(memory[i] + layerBytes);
            flops[i + 1] = checked(flops[i] + layerFlops);
        }

        // Node j takes layers [a, i).
        bool Fits(int j, int a, int i) =>
            checked(memory[i] - memory[a] + perNode + (j == k - 1 ? head : 0)) <= nodes[j].MemoryBytes;

        // Pass 1: the smallest achievable maximum of per-node FLOPs, over splits that fit.
        // best[j, i]: layers [0, i) on nodes 0..j, node j ending at i.
        var best = Table(k, n, Infeasible);
        for (var j = 0; j < k; j++)
        {
            for (var i = j + 1; i <= n - (k - 1 - j); i++)
            {
                for (var a = j; a < i; a++)
                {
                    var before = j == 0 ? (a == 0 ? 0 : Infeasible) : best[j - 1, a];
                    if (before != Infeasible && Fits(j, a, i))
                    {
                        best[j, i] = Math.Min(best[j, i], Math.Max(before, flops[i] - flops[a]));
                    }
                }
            }
        }

        var bound = best[k - 1, n];
        if (bound == Infeasible)
        {
            throw new CopalInputException(Refusal(request, nodes, layerBytes, perNode, head));
        }

        // Pass 2: among the splits within that bound, the most even layer counts (least sum of
        // squares); ties go to the split giving later nodes fewer layers (the last holds the head).
        var cost = Table(k, n, Infeasible);
        var from = new int[k, n + 1];
        for (var j = 0; j < k; j++)
        {
            for (var i = j + 1; i <= n - (k - 1 - j); i++)
            {
                for (var a = i - 1; a >= j; a--)
                {
                    var before = j == 0 ? (a == 0 ? 0 : Infeasible) : cost[j - 1, a];
                    if (before == Infeasible || flops[i] - flops[a] > bound || !Fits(j, a, i))
                    {
                        continue;
                    }

                    var candidate = before + ((long)(i - a) * (i - a));
                    if (candidate < cost[j, i])
                    {
                        cost[j, i] = candidate;
                        from[j, i] = a;
                    }
                }
            }
        }

        var shards = new ShardPlan[k];
        var end = n;
        for (var j = k - 1; j >= 0; j--)
        {
            var start = from[j, end];
            var count = end - start;
            shards[j] = new ShardPlan(
                nodes[j].NodeId,
                FirstLayer: start,
                LastLayer: end - 1,
                WeightBytes: checked(count * weight),
                MethodStateBytes: checked(count * state),
                BufferBytes: buffers,
                RuntimeBytes: CostModel.RuntimeBytes,
                HeadBytes: j == k - 1 ? head : 0,
                Flops: flops[end] - flops[start],
                CapacityBytes: nodes[j].MemoryBytes);
            end = start;
        }

        return new Plan(request, shards, CostModel.BytesPerBoundary(request), flops[n]);
    }

    private static long[,] Table(int k, int n, long fill)
    {
        var t = new long[k, n + 1];
        for (var j = 0; j < k; j++)
        {
            for (var i = 0; i <= n; i++)
            {
                t[j, i] = fill;
            }
        }

        return t;
    }

    /// <summary>Why no split fits: a node too small for even one layer, or too little memory in all.</summary>
    private static string Refusal(PlanRequest r, IReadOnlyList<NodeCapacity> nodes, long layerBytes, long buffers, long head)
    {
        var n = r.Config.NumHiddenLayers;
        var k = nodes.Count;
        var what = $"{r.ModelName} with {r.Method.ToString().ToLowerInvariant()} does not fit in memory";
        var perLayer = $"one layer needs {ByteSize.Format(layerBytes)} of weights and method state";

        var last = nodes[k - 1];
        for (var j = 0; j < k; j++)
        {
            var headHere = j == k - 1 ? head : 0;
            if (layerBytes + buffers + headHere > nodes[j].MemoryBytes)
            {
                var extra = headHere > 0 ? $", {ByteSize.Format(buffers)} of buffers and runtime and {ByteSize.Format(head)} of head (final norm, lm_head, logits)" : $" and {ByteSize.Format(buffers)} of buffers and runtime";
                return $"{what}: node {nodes[j].NodeId} has {ByteSize.Format(nodes[j].MemoryBytes)} but must hold at least one layer; {perLayer}{extra}";
            }
        }

        var total = checked((n * layerBytes) + (k * buffers) + head);
        var capacity = nodes.Sum(x => x.MemoryBytes);
        var largest = nodes.Max(x => x.MemoryBytes);
        var identical = nodes.All(x => x.MemoryBytes == last.MemoryBytes);
        var have = identical
            ? $"{k} node{(k == 1 ? "" : "s")} x {ByteSize.Format(last.MemoryBytes)} = {ByteSize.Format(capacity)}"
            : $"the {k} nodes have {ByteSize.Format(capacity)} ({string.Join(" + ", nodes.Select(x => ByteSize.Format(x.MemoryBytes)))})";
        var need = $"it needs {ByteSize.Format(total)} for {n} layers ({ByteSize.Format(n * layerBytes)} of weights and method state, "
            + $"{ByteSize.Format(buffers)} of buffers and runtime per node, {ByteSize.Format(head)} of head on the last node)";
        var minimum = MinimumNodes(n, layerBytes, buffers, head, largest);
        var hint = minimum switch
        {
            null => $"; {perLayer} plus the head, more than a {ByteSize.Format(largest)} node holds",
            var m when m > k => $"; at least {m} nodes of {ByteSize.Format(largest)} are needed",
            var m => $"; no contiguous split over the nodes in this order fits ({m} nodes of {ByteSize.Format(largest)} would)",
        };
        return $"{what}: {need} but {have}{hint}";
    }

    /// <summary>The fewest nodes of <paramref name="capacity"/> that hold the layers: greedy from the last node (exact for contiguous ranges).</summary>
    private static long? MinimumNodes(int layers, long layerBytes, long buffers, long head, long capacity)
    {
        var perNode = (capacity - buffers) / layerBytes;
        var onLast = (capacity - buffers - head) / layerBytes;
        if (perNode < 1 || onLast < 1)
        {
            return null;
        }

        return onLast >= layers ? 1 : 1 + ((layers - onLast + perNode - 1) / perNode);
    }
}
