# mighost in a container, for workers started by ECS, Kubernetes or AWS
# Batch (docs/scale-out.md). Build from the repository's root:
#   docker build -t mighost .
# The image runs `mighost`: the container's command is its arguments
# (`run NAME ... --coordinate TABLE --yes`).

FROM debian:12-slim AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        gcc make pkg-config liblua5.4-dev libcurl4-openssl-dev libjson-c-dev \
        libssl-dev libexpat1-dev zlib1g-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make install PREFIX=/usr/local DESTDIR=/out

FROM debian:12-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        liblua5.4-0 libcurl4 libjson-c5 libssl3 libexpat1 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home mighost
COPY --from=build /out/usr/local /usr/local
USER mighost
ENTRYPOINT ["mighost"]
CMD ["--help"]
