# syntax=docker/dockerfile:1
# Images for `copal` (the coordinator CLI) and `copal-node` (a cluster node), CPU or CUDA:
#
#   docker build --target copal      -t copal:cpu       .
#   docker build --target copal-node -t copal-node:cpu  .
#   docker build --target copal      --build-arg BACKEND=cuda -t copal:cuda      .
#   docker build --target copal-node --build-arg BACKEND=cuda -t copal-node:cuda .
#
# BACKEND selects TorchSharp's native backend (-p:CopalTorchBackend=cpu|cuda). The CUDA build
# needs a NuGet feed that serves TorchSharp-cuda-linux; its libtorch packages carry the CUDA
# runtime libraries, so the runtime image only needs the NVIDIA driver, which the NVIDIA
# container runtime mounts into GPU pods. Both images run as the non-root user `app` (UID 1654).

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG BACKEND=cpu
WORKDIR /src
# Restore first, on the project files alone, so source edits do not invalidate the package layer.
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props Copal.sln ./
COPY build/ build/
COPY src/Copal.Shared/Copal.Shared.csproj src/Copal.Shared/
COPY src/Copal.GpuNode/Copal.GpuNode.csproj src/Copal.GpuNode/
COPY src/Copal.Coordinator/Copal.Coordinator.csproj src/Copal.Coordinator/
RUN dotnet restore src/Copal.Coordinator/Copal.Coordinator.csproj -p:CopalTorchBackend=${BACKEND}
COPY src/ src/
COPY data/ data/
# The publish step also patches libLibTorchSharp.so (build/PatchLibTorchSharp.targets).
RUN dotnet publish src/Copal.Coordinator/Copal.Coordinator.csproj -c Release --no-restore \
        -p:CopalTorchBackend=${BACKEND} -p:UseAppHost=true -o /out/copal \
 && dotnet publish src/Copal.GpuNode/Copal.GpuNode.csproj -c Release --no-restore \
        -p:CopalTorchBackend=${BACKEND} -p:UseAppHost=true -o /out/copal-node \
 && cp -r /out/copal/data /out/copal-node/data

FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION} AS runtime
ARG BACKEND=cpu
# libgomp: OpenMP runtime of libtorch's CPU kernels.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
# Defaults the manifests under k8s/ rely on; a pod's env overrides each.
ENV COPAL_HOST=0.0.0.0 \
    COPAL_PORT=4053 \
    COPAL_DATA_PORT=5000 \
    COPAL_METRICS_PORT=9100 \
    COPAL_LOG_FORMAT=json \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    DOTNET_gcServer=1
WORKDIR /app
RUN mkdir -p /data && chown ${APP_UID}:${APP_UID} /data

FROM runtime AS copal-node
# glibc malloc as local nodes get it (LocalNodes.MallocTunables): compute threads reuse freed
# pages instead of faulting fresh ones in for each micro-batch. A pod's env overrides it.
ENV GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456
COPY --from=build --chown=root:root /out/copal-node/ /app/
USER ${APP_UID}
EXPOSE 4053 5000 9100
ENTRYPOINT ["/app/copal-node"]

# Last stage: the default target.
FROM runtime AS copal
COPY --from=build --chown=root:root /out/copal/ /app/
USER ${APP_UID}
EXPOSE 4053 9100
WORKDIR /data
ENTRYPOINT ["/app/copal"]
CMD ["--help"]
