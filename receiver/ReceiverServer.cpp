#include "ReceiverServer.h"

#include "Manifest.h"
#include "Tls.h"

#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NameValueCollection.h>
#include <Poco/Net/PartHandler.h>
#include <Poco/Net/SecureServerSocket.h>

#include <iostream>

namespace meldpunt::receiver {

namespace {

using Poco::Net::HTTPResponse;

class TooLarge : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Collects each file part into memory, within the size limit. Parts must
// carry a file name of the form the manifest uses.
class FileCollector : public Poco::Net::PartHandler {
public:
    explicit FileCollector(std::uint64_t maxBytes)
        : remaining_(maxBytes)
    {
    }

    void handlePart(const Poco::Net::MessageHeader& header, std::istream& stream) override
    {
        std::string disposition;
        Poco::Net::NameValueCollection parameters;
        Poco::Net::MessageHeader::splitParameters(
            header.get("Content-Disposition", ""), disposition, parameters);
        const std::string name = parameters.get("filename", "");
        if (name != "manifest.cms" && !referral::isAttachmentFileName(name))
            throw InvalidReferral(
                "a part has no file name of the form manifest.cms or attachment-N.cms");
        if (files.count(name) != 0)
            throw InvalidReferral("the file '" + name + "' is sent twice");
        referral::Bytes& content = files[name];
        char buffer[65536];
        while (stream.read(buffer, sizeof buffer) || stream.gcount() > 0) {
            const auto count = static_cast<std::uint64_t>(stream.gcount());
            if (count > remaining_)
                throw TooLarge("the referral is larger than this receiver accepts");
            remaining_ -= count;
            content.insert(content.end(), buffer, buffer + count);
        }
    }

    std::map<std::string, referral::Bytes> files;

private:
    std::uint64_t remaining_;
};

void respond(Poco::Net::HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
    const std::string& message)
{
    response.setStatus(status);
    response.setContentType("text/plain; charset=utf-8");
    response.setContentLength(static_cast<std::streamsize>(message.size() + 1));
    response.send() << message << '\n';
}

class ReferralHandler : public Poco::Net::HTTPRequestHandler {
public:
    ReferralHandler(ReferralStore& store, std::uint64_t maxBytes)
        : store_(store)
        , maxBytes_(maxBytes)
    {
    }

    void handleRequest(
        Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override
    {
        if (request.getURI() != kReferralsPath) {
            respond(response, HTTPResponse::HTTP_NOT_FOUND, "not found");
            return;
        }
        if (request.getMethod() != "POST") {
            response.set("Allow", "POST");
            respond(response, HTTPResponse::HTTP_METHOD_NOT_ALLOWED, "only POST is allowed");
            return;
        }
        if (request.hasContentLength()
            && static_cast<std::uint64_t>(request.getContentLength64()) > maxBytes_) {
            respond(response, HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE,
                "the referral is larger than this receiver accepts");
            return;
        }
        const std::string key = request.get(kIdempotencyHeader, "");
        try {
            FileCollector collector(maxBytes_);
            Poco::Net::HTMLForm form;
            // Every part of a referral is a file; a plain field is an error.
            form.setFieldLimit(static_cast<int>(referral::kMaxAttachments) + 1);
            form.setValueLengthLimit(1024);
            form.load(request, request.stream(), collector);
            if (!form.empty())
                throw InvalidReferral("every part must be a file of the referral");
            const auto accepted = store_.accept(key, collector.files);
            response.setStatus(
                accepted.duplicate ? HTTPResponse::HTTP_OK : HTTPResponse::HTTP_CREATED);
            response.setContentType("application/pkcs7-mime; smime-type=signed-data");
            response.setContentLength(static_cast<std::streamsize>(accepted.receipt.size()));
            response.send().write(reinterpret_cast<const char*>(accepted.receipt.data()),
                static_cast<std::streamsize>(accepted.receipt.size()));
        } catch (const TooLarge& error) {
            respond(response, HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE, error.what());
        } catch (const InvalidReferral& error) {
            std::cerr << "<4>Rejected a referral: " << error.what() << std::endl;
            respond(response, HTTPResponse::HTTP_BAD_REQUEST, error.what());
        } catch (const Poco::Exception& error) {
            respond(response, HTTPResponse::HTTP_BAD_REQUEST,
                "invalid multipart body: " + error.message());
        } catch (const std::exception& error) {
            std::cerr << "<3>Failed to store a referral: " << error.what() << std::endl;
            respond(
                response, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, "storing the referral failed");
        }
    }

private:
    ReferralStore& store_;
    std::uint64_t maxBytes_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    Factory(ReferralStore& store, std::uint64_t maxBytes)
        : store_(store)
        , maxBytes_(maxBytes)
    {
    }
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override
    {
        return new ReferralHandler(store_, maxBytes_);
    }

private:
    ReferralStore& store_;
    std::uint64_t maxBytes_;
};

} // namespace

ReceiverServer::ReceiverServer(ServerSettings settings, ReferralStore& store)
    : settings_(std::move(settings))
{
    auto context = referral::makeServerContext(
        settings_.certificate, *settings_.key, settings_.trustedClients);
    Poco::Net::SecureServerSocket socket(
        Poco::Net::SocketAddress(settings_.address, settings_.port), 64, context);
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(settings_.maxThreads);
    params->setMaxQueued(32);
    params->setTimeout(Poco::Timespan(60, 0));
    params->setKeepAlive(false);
    server_ = std::make_unique<Poco::Net::HTTPServer>(
        new Factory(store, settings_.maxReferralBytes), socket, params);
}

ReceiverServer::~ReceiverServer()
{
    stop();
}

void ReceiverServer::start()
{
    server_->start();
}

void ReceiverServer::stop()
{
    if (server_)
        server_->stopAll(true);
}

std::uint16_t ReceiverServer::port() const
{
    return server_->port();
}

} // namespace meldpunt::receiver
